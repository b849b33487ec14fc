"""Every deadline that applies to a user's organisations, from the data that sets it: offers' respond-by
and approve-by dates, the manual-entry deadline and milestones of the years they take part in, the
declarations waiting at the next payment cut-off, and the cut-offs themselves. One list feeds the home
page, the calendar page, the iCalendar feed and the guidance panel of each main page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Min, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organisation, OrganisationType
from accounts.permissions import organisations_reachable
from accounts.roles import CATALOGUE, Permission
from accounts.selectors import active_memberships_of
from declarations.models import Declaration
from participation.models import Indicator, Milestone, Offer, ServiceYear
from payments.schedule import release_for_month

P = Permission
# Years whose year-end work (declaring, approving, paying) can still be going on.
YEARS_BACK = dt.timedelta(days=430)
CUTOFFS_AHEAD = 3


class Kind:
    OFFER_RESPONSE = "offer_response"
    PARTICIPATION_APPROVAL = "participation_approval"
    MANUAL_ENTRY = "manual_entry"
    MILESTONE = "milestone"
    DECLARE = "declare"
    APPROVE = "approve"
    FINANCIAL_APPROVAL = "financial_approval"
    PAYMENT_CUTOFF = "payment_cutoff"


@dataclass(frozen=True)
class Deadline:
    uid: str  # stable across requests, so a calendar app updates an event instead of adding another
    kind: str
    what: str
    due: dt.date
    href: str
    detail: str = ""
    starts: dt.date | None = None  # for a window: its first day
    at: dt.datetime | None = field(default=None, compare=False)  # a cut-off's moment, when it has one

    def days_left(self, today: dt.date | None = None) -> int:
        return (self.due - (today or timezone.localdate())).days

    @property
    def days_left_today(self) -> int:
        return self.days_left()


@dataclass
class _Scope:
    permissions: set
    practice_codes: list
    commissioner: bool
    national: bool

    def holds(self, *permissions: Permission) -> bool:
        return bool(self.permissions.intersection(permissions))


def _scope(user) -> _Scope:
    permissions, practice_codes, commissioner, national = set(), [], False, False
    for membership in active_memberships_of(user):
        organisation = membership.organisation
        permissions |= set(CATALOGUE[membership.role].all_permissions())
        if organisation.type == OrganisationType.PRACTICE:
            practice_codes.append(organisation.code)
        commissioner |= organisation.is_commissioner
        national |= organisation.type == OrganisationType.NATIONAL
    return _Scope(permissions, sorted(set(practice_codes)), commissioner, national)


def _practices(user) -> QuerySet[Organisation]:
    return organisations_reachable(
        user, P.VIEW_ORGANISATION, Organisation.objects.filter(type=OrganisationType.PRACTICE)
    )


def deadlines_for(user, *, since: dt.date | None = None, today: dt.date | None = None) -> list[Deadline]:
    """The user's deadlines due on or after `since` (today unless given), soonest first."""
    if not user.is_authenticated:
        return []
    today = today or timezone.localdate()
    since = since or today
    scope = _scope(user)
    if not scope.permissions:
        return []
    practices = _practices(user)
    found = [
        *_offers(scope, practices, since),
        *_manual_entry(scope, practices, since),
        *_milestones(scope, practices, since, today),
        *_cutoffs_and_waiting(scope, practices, since, today),
    ]
    return sorted(found, key=lambda d: (d.due, d.what))


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _offers(scope: _Scope, practices, since) -> list[Deadline]:
    found = []
    waiting = (
        Offer.objects.filter(practice__in=practices, state=Offer.State.OFFERED, response_date__gte=since)
        .values("service_year__code", "service_year__name", "response_date")
        .annotate(n=Count("pk"), first=Min("pk"))
    )
    for row in waiting:
        single = row["n"] == 1
        own = not (scope.commissioner or scope.national)
        what = (
            f"Accept or decline the offer of {row['service_year__name']}"
            if own
            else f"{_plural(row['n'], 'practice')} to respond to the offer of {row['service_year__name']}"
        )
        href = (
            reverse("participation:offer_detail", kwargs={"pk": row["first"]})
            if single
            else reverse("participation:offer_list" if own else "participation:participation_list")
        )
        found.append(
            Deadline(
                f"offer-response-{row['service_year__code']}-{row['response_date']:%Y%m%d}",
                Kind.OFFER_RESPONSE,
                what,
                row["response_date"],
                href,
                "The practice accepts or declines by this day; the commissioner then approves participation.",
            )
        )
    if scope.holds(P.COMMISSION_SERVICES):
        accepted = (
            Offer.objects.filter(practice__in=practices, state=Offer.State.ACCEPTED, target_date__gte=since)
            .values("service_year__code", "service_year__name", "target_date")
            .annotate(n=Count("pk"))
        )
        for row in accepted:
            found.append(
                Deadline(
                    f"participation-approval-{row['service_year__code']}-{row['target_date']:%Y%m%d}",
                    Kind.PARTICIPATION_APPROVAL,
                    f"Approve the participation of {_plural(row['n'], 'practice')} in "
                    f"{row['service_year__name']}",
                    row["target_date"],
                    reverse("participation:participation_list"),
                    "Only approved participation lets the practice's data in.",
                )
            )
    return found


def _years_taken_part_in(scope: _Scope, practices, *, recent: bool = True) -> QuerySet[ServiceYear]:
    """Years the user's practices take part in or are offered; every (recent) year for commissioners and
    national staff, who work on all of them."""
    years = ServiceYear.objects.all()
    if recent:
        years = years.filter(end_date__gte=timezone.localdate() - YEARS_BACK)
    if scope.commissioner or scope.national:
        return years
    return years.filter(
        Q(participations__practice__in=practices)
        | Q(offers__practice__in=practices, offers__state__in=Offer.LIVE_STATES)
    ).distinct()


def _manual_entry(scope: _Scope, practices, since) -> list[Deadline]:
    if not scope.holds(P.ENTER_ACHIEVEMENT, P.VIEW_ACHIEVEMENT, P.MANAGE_SERVICES, P.SUPPORT):
        return []
    # Any year whose deadline is still ahead, however old: a deadline can be moved after the year ends.
    years = (
        _years_taken_part_in(scope, practices, recent=False)
        .filter(manual_entry_deadline__gte=since, indicators__kind=Indicator.Kind.MANUAL)
        .distinct()
        .order_by("manual_entry_deadline")
    )
    found = []
    for year in years:
        if scope.practice_codes and scope.holds(P.ENTER_ACHIEVEMENT):
            href = reverse(
                "manual_entry:manual_entry", kwargs={"code": scope.practice_codes[0], "year": year.code}
            )
        else:
            href = reverse("participation:timetable") + f"?year={year.code}"
        found.append(
            Deadline(
                f"manual-entry-{year.code}",
                Kind.MANUAL_ENTRY,
                f"Manual entry closes for {year.name}",
                year.manual_entry_deadline,
                href,
                "Answer every manual indicator by this day; after it only the commissioner can enter them.",
            )
        )
    return found


def _milestones(scope: _Scope, practices, since, today) -> list[Deadline]:
    milestones = (
        Milestone.objects.filter(
            service_year__in=_years_taken_part_in(scope, practices).values("pk"), ends_on__gte=since
        )
        .select_related("service_year")
        .order_by("starts_on")
    )
    return [
        Deadline(
            f"milestone-{m.service_year.code}-{m.kind}",
            Kind.MILESTONE,
            f"{m.get_kind_display()}: {m.service_year.name}",
            m.ends_on,
            reverse("participation:timetable") + f"?year={m.service_year.code}",
            m.note,
            starts=m.starts_on if m.starts_on != m.ends_on else None,
        )
        for m in milestones
    ]


# Who acts on a declaration in each state, and what the calendar calls it.
WAITING = [
    (Declaration.State.AWAITING_PRACTICE, P.DECLARE_ACHIEVEMENT, Kind.DECLARE, "declare"),
    (Declaration.State.AWAITING_COMMISSIONER, P.APPROVE_DECLARATIONS, Kind.APPROVE, "approve"),
    (Declaration.State.AWAITING_FINANCE, P.MANAGE_FINANCE, Kind.FINANCIAL_APPROVAL, "financially approve"),
]
PAYS = (P.DECLARE_ACHIEVEMENT, P.APPROVE_DECLARATIONS, P.MANAGE_FINANCE, P.VIEW_FINANCE)


def _cutoffs_and_waiting(scope: _Scope, practices, since, today) -> list[Deadline]:
    """The next monthly release cut-offs, and what waits for the user before the first of them: work done
    after a cut-off is paid a month later ("payment requests … will remain on hold")."""
    if not scope.holds(*PAYS):
        return []
    found = []
    releases = []
    year, month = since.year, since.month
    while len(releases) < CUTOFFS_AHEAD:
        release = release_for_month(year, month)
        if timezone.localtime(release.cutoff).date() >= since:
            releases.append(release)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    for release in releases:
        cutoff = timezone.localtime(release.cutoff)
        found.append(
            Deadline(
                f"payment-cutoff-{cutoff:%Y%m%d}",
                Kind.PAYMENT_CUTOFF,
                f"Payment cut-off at {cutoff:%H:%M} for payment on {release.payment_date:%-d %B}",
                cutoff.date(),
                reverse("declarations:list"),
                "Payments approved by the cut-off go to the payment agency; later ones wait a month.",
                at=cutoff,
            )
        )
    next_cutoff = timezone.localtime(releases[0].cutoff).date()
    acting = [(state, kind, verb) for state, permission, kind, verb in WAITING if scope.holds(permission)]
    if acting:
        counts = (
            Declaration.objects.filter(practice__in=practices, state__in=[state for state, _, _ in acting])
            .values("state")
            .annotate(n=Count("pk"))
        )
        waiting = {row["state"]: row["n"] for row in counts}
        for state, kind, verb in acting:
            if waiting.get(state):
                found.append(
                    Deadline(
                        f"{kind}-{next_cutoff:%Y%m%d}",
                        kind,
                        f"{verb.capitalize()} {_plural(waiting[state], 'declaration')} "
                        "before the payment cut-off",
                        next_cutoff,
                        reverse("declarations:list") + f"?state={state}",
                        "To be paid this month, the declaration must be approved by the cut-off.",
                    )
                )
    return found
