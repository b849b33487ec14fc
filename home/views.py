"""Pages that gather several apps: each user's home page, their calendar of deadlines (and its feed), and the
practice list with its checklist."""

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe
from django_tables2 import RequestConfig

from accounts.selectors import active_memberships_of, practice_list_for, practices_held_by
from accounts.tabular import download
from declarations.selectors import work_list
from notices.selectors import notices_in_force_for

from . import actions, selectors
from .checklist import annotate_year_end_checklist, year_end_checklists
from .deadlines import deadlines_for
from .filters import PracticeFilter
from .ical import calendar_of
from .tables import PracticeTable


@login_required
@require_safe
def index(request):
    organisations = {}
    for membership in active_memberships_of(request.user):
        organisations.setdefault(membership.organisation, []).append(membership.get_role_display())
    checklists = year_end_checklists(practices_held_by(request.user))
    year_end = [(o, checklists[o.pk]) for o in organisations if o.pk in checklists]
    context = {
        "organisations": organisations,
        "year_end": year_end,
        "work": work_list(request.user),
        "home_notices": notices_in_force_for(request.user),
        # The home page lists every notice in force itself; the banner would show them twice.
        "banner_notices": [],
        "home_deadlines": deadlines_for(request.user)[:HOME_DEADLINES],
    }
    return render(request, "home/home.html", context)


HOME_DEADLINES = 5
NEW_FEED = "calendar_feed_address"
FEED_HISTORY = 60  # days of past deadlines a subscribed calendar keeps


@login_required
@require_safe
def calendar(request):
    context = {
        "deadlines": deadlines_for(request.user),
        "feed": selectors.calendar_feed_of(request.user),
        # The secret is shown once, on the page after it was made: only its hash is kept.
        "new_feed_address": request.session.pop(NEW_FEED, None),
    }
    return render(request, "home/calendar.html", context)


@login_required
@require_POST
def calendar_feed(request):
    token = actions.issue_calendar_feed(by=request.user)
    request.session[NEW_FEED] = request.build_absolute_uri(
        reverse("home:calendar_ics", kwargs={"token": token})
    )
    messages.success(request, "Your calendar link is ready. Any link you had before has stopped working.")
    return redirect("home:calendar")


@login_required
@require_POST
def calendar_feed_stop(request):
    if actions.revoke_calendar_feed(by=request.user):
        messages.success(
            request, "Your calendar link has stopped working. Calendars using it get no more updates."
        )
    return redirect("home:calendar")


@require_safe
def calendar_ics(request, token):
    """The calendar app's view: no session, the secret in the address is the key (404 when unknown)."""
    owner = selectors.calendar_owner(token)
    since = timezone.localdate() - dt.timedelta(days=FEED_HISTORY)
    body = calendar_of(deadlines_for(owner, since=since), owner_name=owner.get_short_name())
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="cqrs-deadlines.ics"'
    response["Cache-Control"] = "private, max-age=900"
    return response


@login_required
@require_safe
def practice_list(request):
    practices, checklist = annotate_year_end_checklist(practice_list_for(request.user))
    practice_filter = PracticeFilter(request.GET, queryset=practices)
    table = PracticeTable(practice_filter.qs, checklist=checklist)
    RequestConfig(request, paginate={"per_page": 50}).configure(table)
    if response := download(request, table, "practices"):
        return response
    return render(request, "home/practice_list.html", {"table": table, "filter": practice_filter})
