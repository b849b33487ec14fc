import datetime as dt
import re
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from cqrs_portal.guidance import PAGES
from participation import actions as participation_actions
from tests.conftest import REPO
from tests.factories import service_year, user_with_roles


def test_every_guidance_text_is_shown_by_a_page_and_every_panel_has_its_text():
    used = set()
    for template in (REPO / "templates").rglob("*.html"):
        used |= set(re.findall(r'{% guidance "([a-z_]+)" %}', template.read_text()))
    assert used == set(PAGES)


def test_the_manual_entry_panel_says_what_to_do_and_when_it_closes(client, tree):
    today = timezone.localdate()
    start_year = today.year if today.month >= 4 else today.year - 1
    year = service_year(
        f"QOF{start_year % 100:02d}{(start_year + 1) % 100:02d}", automatic_participation=True
    )
    participation_actions.create_indicator(
        values={
            "service_year": year, "code": "QI001", "group_code": "QI",
            "group_description": "Quality improvement", "domain_code": "QI", "points": Decimal("27"),
            "kind": "manual", "patient_list": "TOTAL", "prevalence_adjusted": False,
        },
        by=None,
    )  # fmt: skip
    closes = timezone.localdate() + dt.timedelta(days=5)
    participation_actions.update_service_year(
        service_year=year, changes={"manual_entry_deadline": closes}, by=None
    )
    participation_actions.record_automatic_participation(service_year=year, by=None)
    client.force_login(user_with_roles(tree["A00001"], "achievement_entry"))
    page = client.get(reverse("manual_entry:manual_entry_years", kwargs={"code": "A00001"})).content.decode()
    assert 'data-testid="guidance"' in page and "Answer every indicator and save." in page
    assert reverse("help:guidance_deadline", kwargs={"page": "manual_entry"}) in page
    panel = client.get(reverse("help:guidance_deadline", kwargs={"page": "manual_entry"})).content.decode()
    assert (
        f"Manual entry closes for {year.name}</a>, {closes:%-d %B %Y}" in panel and "(5 days left)" in panel
    )


def test_a_page_without_guidance_is_a_404(client, tree):
    client.force_login(user_with_roles(tree["A00001"], "view"))
    assert client.get(reverse("help:guidance_deadline", kwargs={"page": "nowhere"})).status_code == 404
