"""The short guidance panel of each main page: what the page is for, what to do next, and the deadline that
applies, taken from the user's calendar (home.deadlines). The text is here once, keyed by page; templates
show it with `{% guidance "<page>" %}`.

The deadline is fetched after the page has loaded (htmx), so a page's own queries (pinned in its tests) do
not grow with the calendar's; without JavaScript the panel links to the calendar instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_safe

from home.deadlines import Kind, deadlines_for


@dataclass(frozen=True)
class Guidance:
    purpose: str
    next_steps: str
    kinds: tuple[str, ...]  # the deadlines that apply to the page's work, soonest shown
    help_topic: str = ""


PAYING = (Kind.DECLARE, Kind.APPROVE, Kind.FINANCIAL_APPROVAL, Kind.PAYMENT_CUTOFF)

PAGES = {
    "home": Guidance(
        "Your work in one place: what waits for you, your deadlines and the service's notices.",
        "Start with the items under “Waiting for you”, soonest deadline first.",
        (),
    ),
    "participation": Guidance(
        "Which practices take part in a service year, and the offers waiting for an answer or approval.",
        "Offer the year to practices not yet offered it; approve participation once a practice has accepted, "
        "so that its data can come in.",
        (Kind.OFFER_RESPONSE, Kind.PARTICIPATION_APPROVAL),
    ),
    "offers": Guidance(
        "The services your practice has been offered, and your answers.",
        "Open an offer to accept or decline it by its respond-by date; your commissioner then approves it.",
        (Kind.OFFER_RESPONSE,),
    ),
    "manual_entry": Guidance(
        "The indicators the clinical systems cannot extract: you answer them here for the year.",
        "Answer every indicator and save. After the deadline only your commissioner can change an answer.",
        (Kind.MANUAL_ENTRY,),
        "manual-entry",
    ),
    "declarations": Guidance(
        "Achievement declared for payment, and where each declaration has got to.",
        "Open a declaration that waits for you: practices declare, commissioners approve, finance approves "
        "for payment.",
        (Kind.DECLARE, Kind.APPROVE, Kind.FINANCIAL_APPROVAL, Kind.PAYMENT_CUTOFF),
        "declaring",
    ),
    "declaration": Guidance(
        "One practice's achievement for a service year: its points, its payment and its history.",
        "Check the figures (each one explains itself), then take the step the status asks for. A rejection "
        "needs a reason the practice will see.",
        (Kind.DECLARE, Kind.APPROVE, Kind.FINANCIAL_APPROVAL, Kind.PAYMENT_CUTOFF),
        "approving",
    ),
    "statement": Guidance(
        "What your practice has been paid and will be paid, line by line.",
        "Check each payment against your declarations; a line still waiting is paid after its approval.",
        (Kind.PAYMENT_CUTOFF,),
        "releasing",
    ),
    "commissioner_payments": Guidance(
        "The payments of your practices: waiting for approval, approved and sent.",
        "Approve what waits for you before the cut-off, or it is paid a month later.",
        PAYING,
        "releasing",
    ),
    "release": Guidance(
        "What the next release sends to the payment agency at its cut-off.",
        "Check the totals by commissioner before the cut-off; the release then runs by itself.",
        (Kind.PAYMENT_CUTOFF,),
        "releasing",
    ),
    "reports": Guidance(
        "Achievement by practice and indicator from the latest published calculation.",
        "Filter to the practices you need and download the table; open a practice to see each figure "
        "explained.",
        (Kind.DECLARE, Kind.APPROVE),
        "reports",
    ),
    "runs": Guidance(
        "Calculation runs: year ends, in-year runs and recalculations, and what each changed.",
        "Start a run when the year's extract is in; a run held at prevalence needs Support to confirm it.",
        (Kind.MILESTONE,),
    ),
}


@login_required
@require_safe
def guidance_deadline(request, page):
    """The panel's deadline, fetched by the panel once the page has loaded."""
    guidance = PAGES.get(page)
    if guidance is None:
        raise Http404
    deadline = next((d for d in deadlines_for(request.user) if d.kind in guidance.kinds), None)
    return render(request, "includes/guidance_deadline.html", {"deadline": deadline})
