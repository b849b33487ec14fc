"""The help section, contact details and the cookies page: fixed guidance, one template per topic."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_safe

# slug → (title, summary) in the order a year's work happens.
TOPICS = {
    "manual-entry": ("Entering manual indicators", "Answering the indicators that cannot be extracted."),
    "declaring": ("Declaring achievement", "Checking your practice's achievement and declaring it."),
    "approving": ("Approving achievement", "Approving or returning a practice's declaration."),
    "releasing": ("Releasing payments", "How approved payments are sent to the payment agency."),
    "reports": ("Reading the reports", "What the achievement reports, downloads and explanations show."),
}


@login_required
@require_safe
def help_index(request):
    topics = [(slug, title, summary) for slug, (title, summary) in TOPICS.items()]
    return render(request, "help/index.html", {"topics": topics})


@login_required
@require_safe
def help_topic(request, topic):
    if topic not in TOPICS:
        raise Http404
    title, summary = TOPICS[topic]
    return render(request, f"help/{topic}.html", {"title": title, "summary": summary, "topic": topic})


@require_safe
def contact(request):
    return render(request, "help/contact.html", {"support_email": settings.SUPPORT_EMAIL})


@require_safe
def cookies(request):
    return render(request, "help/cookies.html")
