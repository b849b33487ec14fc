import datetime as dt

from django.urls import reverse
from django.utils import timezone

from accounts import actions as account_actions
from accounts.models import Organisation
from cqrs_portal.demo import (
    DEFAULT_ICB,
    DEMO_NEXT_YEAR,
    demo_logins,
    load_mapping_for_icb,
    open_demo_manual_entry,
    publish_demo_notice,
)
from cqrs_portal.demo_jobs import DEMO_JOBS
from manual_entry.selectors import entry_is_locked_for_practice
from notices.models import Notice
from participation.actions import load_rulesets
from participation.models import ServiceYear
from participation.ruleset_files import RULESETS_DIR, read_rulesets


def test_every_job_names_a_demo_login(db):
    account_actions.import_organisations(
        mapping=load_mapping_for_icb(DEFAULT_ICB), effective_date=timezone.localdate(), by=None
    )
    emails = {login.email for login in demo_logins(Organisation.objects.get(code=DEFAULT_ICB))}
    assert {email for _, email in DEMO_JOBS} <= emails


def test_the_demos_in_year_manual_entry_is_open_and_announced_once(db):
    load_rulesets(rulesets=read_rulesets(RULESETS_DIR), by=None)
    year = ServiceYear.objects.get(code=DEMO_NEXT_YEAR)
    assert entry_is_locked_for_practice(year)  # its real deadline, 31 March 2025, has passed
    open_demo_manual_entry()
    publish_demo_notice()
    year.refresh_from_db()
    assert not entry_is_locked_for_practice(year)
    assert year.manual_entry_deadline == timezone.localdate() + dt.timedelta(days=28)
    open_demo_manual_entry()
    publish_demo_notice()
    year.refresh_from_db()
    assert year.manual_entry_deadline == timezone.localdate() + dt.timedelta(days=28)
    assert Notice.objects.count() == 1


def test_the_sign_in_page_shows_the_login_table_only_on_a_development_machine(client, db, settings):
    settings.DEBUG = True
    page = client.get(reverse("login")).content.decode()
    assert 'data-testid="demo-jobs"' in page and "manual.entry@nhs.net" in page
    settings.DEBUG = False
    assert 'data-testid="demo-jobs"' not in client.get(reverse("login")).content.decode()
