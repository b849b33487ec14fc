"""The year-end timetable: shipped as data, edited through audited actions, read by all."""

import shutil
from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from participation import actions
from participation.models import Milestone, ServiceYear
from participation.ruleset_files import RULESETS_DIR, RulesetFileError, read_rulesets
from tests.factories import user_with_roles

TIMETABLE = reverse("participation:timetable")
Kind = Milestone.Kind


@pytest.fixture
def rulesets(db):
    call_command("load_rulesets")


def test_the_2023_24_timetable_ships_with_the_rulesets(rulesets):
    milestones = {
        m.kind: (m.starts_on, m.ends_on) for m in Milestone.objects.filter(service_year__code="QOF2324")
    }
    assert milestones == {
        Kind.PARTICIPATION_EXTRACTION: (date(2024, 3, 31), date(2024, 3, 31)),
        Kind.EXTRACTION_WINDOW: (date(2024, 4, 1), date(2024, 4, 2)),
        Kind.PREVALENCE_CALCULATION: (date(2024, 4, 3), date(2024, 4, 3)),
        Kind.ACHIEVEMENT_CALCULATION: (date(2024, 4, 3), date(2024, 4, 5)),
        Kind.AVAILABLE_TO_DECLARE: (date(2024, 4, 6), date(2024, 4, 6)),
    }


def test_reloading_keeps_a_corrected_milestone(rulesets):
    milestone = Milestone.objects.get(service_year__code="QOF2324", kind=Kind.AVAILABLE_TO_DECLARE)
    actions.update_milestone(
        milestone=milestone, changes={"starts_on": date(2024, 4, 8), "ends_on": date(2024, 4, 8)}, by=None
    )
    events = AuditEvent.objects.count()
    call_command("load_rulesets")
    milestone.refresh_from_db()
    assert milestone.starts_on == date(2024, 4, 8)
    assert AuditEvent.objects.count() == events


def test_a_timetable_for_an_unknown_year_or_milestone_is_rejected(db, tmp_path):
    shutil.copytree(RULESETS_DIR, tmp_path, dirs_exist_ok=True)
    with (tmp_path / "timetables.csv").open("a") as handle:
        handle.write(
            "QOF9900,extraction_window,2024-04-01,2024-04-02,\nQOF2324,tea_break,2024-04-01,2024-04-01,\n"
        )
    with pytest.raises(RulesetFileError) as rejected:
        read_rulesets(tmp_path)
    problems = "\n".join(rejected.value.problems)
    assert "no service year QOF9900" in problems
    assert "'tea_break' is not one of" in problems


def test_only_service_management_changes_the_timetable_and_every_change_is_audited(rulesets, tree):
    milestone = Milestone.objects.get(service_year__code="QOF2324", kind=Kind.EXTRACTION_WINDOW)
    with pytest.raises(PermissionDenied):
        actions.update_milestone(
            milestone=milestone,
            changes={"ends_on": date(2024, 4, 3)},
            by=user_with_roles(tree["ENG"], "support"),
        )
    manager = user_with_roles(tree["ENG"], "service_management")
    actions.update_milestone(milestone=milestone, changes={"ends_on": date(2024, 4, 3)}, by=manager)
    event = AuditEvent.objects.get(action="milestone.updated")
    assert (event.actor, event.before, event.after) == (
        manager,
        {"ends_on": "2024-04-02"},
        {"ends_on": "2024-04-03"},
    )


def test_a_milestone_ending_before_it_starts_or_before_the_year_is_refused(rulesets):
    year = ServiceYear.objects.get(code="QOF2425")
    with pytest.raises(ValidationError):
        actions.create_milestone(
            values={"service_year": year, "kind": Kind.EXTRACTION_WINDOW, "starts_on": date(2025, 4, 2),
                    "ends_on": date(2025, 4, 1)},
            by=None,
        )  # fmt: skip
    with pytest.raises(ValidationError, match="starts on"):
        actions.create_milestone(
            values={"service_year": year, "kind": Kind.EXTRACTION_WINDOW, "starts_on": date(2024, 3, 1),
                    "ends_on": date(2024, 3, 1)},
            by=None,
        )  # fmt: skip


def test_service_manager_edits_a_milestone_in_the_admin(rulesets, tree, client):
    milestone = Milestone.objects.get(service_year__code="QOF2324", kind=Kind.PREVALENCE_CALCULATION)
    client.force_login(user_with_roles(tree["ENG"], "service_management"))
    url = reverse("admin:participation_milestone_change", args=[milestone.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"starts_on": "2024-04-04", "ends_on": "2024-04-04", "note": "moved"})
    assert response.status_code == 302
    milestone.refresh_from_db()
    assert milestone.starts_on == date(2024, 4, 4)
    assert AuditEvent.objects.filter(action="milestone.updated", object_id=str(milestone.pk)).exists()


@pytest.mark.parametrize(("holder", "role"), [("A00001", "view"), ("01A", "commissioning_management")])
def test_practices_and_commissioners_read_the_timetable(rulesets, tree, client, holder, role):
    client.force_login(user_with_roles(tree[holder], role))
    response = client.get(TIMETABLE, {"service_year": "QOF2324"})
    assert response.status_code == 200
    what = [entry["what"] for entry in response.context["entries"]]
    assert what == [
        "Participation extracted",
        "Manual indicators complete (manual-entry deadline)",
        "GP system extraction window",
        "Prevalence calculation and checks",
        "Achievement and aspiration calculations",
        "Achievement available to view and declare",
    ]
    assert "3 April 2024 to 5 April 2024" in response.text
    assert "6 April 2024" in response.text


def test_the_timetable_shows_the_service_year_today_falls_in_by_default(rulesets, tree, client):
    # The same default as every other page: the running year, not the newest year that has milestones.
    client.force_login(user_with_roles(tree["A00001"], "view"))
    shown = client.get(TIMETABLE).context["service_year"]
    today = timezone.localdate()
    running = ServiceYear.objects.filter(start_date__lte=today, end_date__gte=today, service__kind="qof")
    assert shown == (running.first() or ServiceYear.objects.order_by("-financial_year").first())
    assert client.get(TIMETABLE, {"service_year": "NOPE"}).status_code == 404
