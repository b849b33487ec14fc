"""Service management inside the service (docs/adr/0017-service-management-and-charts.md): a service
manager keeps the years, their timetables and rulesets on NHS.UK pages, with provenance beside each value
and every change in the audit trail; everyone else finds no such pages."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import AuditEvent, Organisation
from participation.models import Milestone, Provenance, RuleParameter, ServiceRate, ServiceYear
from tests.factories import date_fields, user_with_roles
from tests.walk_routes import as_sent_unchanged


@pytest.fixture
def rulesets(db):
    call_command("load_rulesets")


@pytest.fixture
def manager(tree, client):
    user = user_with_roles(tree["ENG"], "service_management")
    client.force_login(user)
    return user


def year_form(code: str) -> dict:
    from participation.forms import ServiceYearForm

    return as_sent_unchanged(ServiceYearForm(instance=ServiceYear.objects.get(code=code)))


def test_a_service_manager_confirms_a_years_point_value_and_the_change_is_audited(rulesets, manager, client):
    listing = client.get(reverse("participation:service_years"))
    assert "Quality and Outcomes Framework 2023/24" in listing.text
    assert "Load a ruleset from a file" in listing.text
    summary = client.get(reverse("participation:service_year", kwargs={"year": "QOF2526"}))
    assert 'class="nhsuk-summary-list"' in summary.text

    change = reverse("participation:service_year_edit", kwargs={"year": "QOF2526"})
    page = client.get(change)
    assert "---------" not in page.text
    assert 'name="manual_entry_deadline-day"' in page.text
    data = year_form("QOF2526") | {
        "point_value": "225.00",
        "parameters_confidence": Provenance.CONFIRMED,
        "parameters_note": "SFE 2025, Annex D",
    }
    response = client.post(change, data)

    assert response.status_code == 302
    year = ServiceYear.objects.get(code="QOF2526")
    assert (year.point_value, year.parameters_confidence) == (Decimal("225.00"), Provenance.CONFIRMED)
    event = AuditEvent.objects.get(action="service_year.updated", actor=manager)
    assert event.after["point_value"] == "225.00" and event.after["parameters_note"] == "SFE 2025, Annex D"


def test_a_value_the_model_refuses_comes_back_beside_its_field(rulesets, manager, client):
    change = reverse("participation:service_year_edit", kwargs={"year": "QOF2526"})
    data = year_form("QOF2526") | date_fields(manual_entry_deadline=date(2024, 1, 1)) | {"point_value": "0"}
    response = client.post(change, data)

    assert response.status_code == 200
    assert "There is a problem" in response.text
    assert not AuditEvent.objects.filter(action="service_year.updated").exists()


def test_a_service_manager_sets_the_declaration_window_and_the_timetable_shows_it(rulesets, manager, client):
    page = client.get(reverse("participation:service_year", kwargs={"year": "QOF2324"}))
    assert "Practices declare achievement" in page.text and "Not set" in page.text
    window = reverse("participation:milestone_edit", kwargs={"year": "QOF2324", "kind": "declaration_window"})

    refused = client.post(window, date_fields(starts_on=date(2024, 5, 1), ends_on=date(2024, 4, 30)))
    assert refused.status_code == 200 and "There is a problem" in refused.text
    done = client.post(window, date_fields(starts_on=date(2024, 4, 8), ends_on=date(2024, 5, 31)))
    again = client.post(window, date_fields(starts_on=date(2024, 4, 8), ends_on=date(2024, 6, 7)))

    assert done.status_code == again.status_code == 302
    milestone = Milestone.objects.get(service_year__code="QOF2324", kind="declaration_window")
    assert (milestone.starts_on, milestone.ends_on) == (date(2024, 4, 8), date(2024, 6, 7))
    changes = AuditEvent.objects.filter(actor=manager, action__startswith="milestone.").order_by("id")
    assert [event.action for event in changes] == ["milestone.created", "milestone.updated"]
    timetable = client.get(reverse("participation:timetable"), {"service_year": "QOF2324"})
    assert "Practices declare achievement" in timetable.text


def test_a_service_manager_corrects_an_indicator_rate_and_rule_from_the_ruleset_page(
    rulesets, manager, client
):
    ruleset = client.get(reverse("participation:ruleset", kwargs={"year": "QOF2324"}))
    indicator = ServiceYear.objects.get(code="QOF2324").indicators.get(code="AF006")
    edit = reverse(
        "participation:ruleset_value_edit",
        kwargs={"year": "QOF2324", "what": "indicator", "pk": indicator.pk},
    )
    assert edit in ruleset.text
    response = client.post(
        edit, {"points": "12", "lower_threshold": "40", "upper_threshold": "70",
               "threshold_confidence": "inferred", "definition_confidence": "confirmed",
               "provenance_note": "Checked against the 2023/24 business rules"},
    )  # fmt: skip
    assert response.status_code == 302
    indicator.refresh_from_db()
    assert indicator.threshold_confidence == "inferred"
    assert (
        "Thresholds inferred" in client.get(reverse("participation:ruleset", kwargs={"year": "QOF2324"})).text
    )

    rate = ServiceRate.objects.filter(confidence=Provenance.UNCONFIRMED).first()
    rate_edit = reverse(
        "participation:ruleset_value_edit",
        kwargs={"year": rate.service_year.code, "what": "rate", "pk": rate.pk},
    )
    assert client.get(rate_edit).status_code == 200
    data = {
        "rate": str(rate.rate),
        "confidence": "confirmed",
        "source": "SFE 2025",
        "cap_note": rate.cap_note,
    }
    assert client.post(rate_edit, data).status_code == 302
    rate.refresh_from_db()
    assert rate.confirmed

    parameter = RuleParameter.objects.first()
    rule_edit = reverse(
        "participation:ruleset_value_edit",
        kwargs={"year": parameter.service_year.code, "what": "rule", "pk": parameter.pk},
    )
    data = {"value": parameter.value, "confidence": "confirmed", "note": "Read in the SFE"}
    assert client.post(rule_edit, data).status_code == 302
    changes = AuditEvent.objects.filter(actor=manager).exclude(action__startswith="auth.")
    assert set(changes.values_list("action", flat=True)) == {
        "indicator.updated", "servicerate.updated", "ruleparameter.updated",
    }  # fmt: skip


def test_the_pages_are_not_found_for_anyone_else_or_for_another_years_value(rulesets, tree, client):
    indicator = ServiceYear.objects.get(code="QOF2324").indicators.first()
    client.force_login(user_with_roles(tree["ENG"], "service_management"))
    elsewhere = {"year": "QOF2425", "what": "indicator", "pk": indicator.pk}
    assert client.get(reverse("participation:ruleset_value_edit", kwargs=elsewhere)).status_code == 404
    nonsense = {"year": "QOF2324", "what": "practice", "pk": indicator.pk}
    assert client.get(reverse("participation:ruleset_value_edit", kwargs=nonsense)).status_code == 404
    unknown_kind = {"year": "QOF2324", "kind": "holiday"}
    assert client.get(reverse("participation:milestone_edit", kwargs=unknown_kind)).status_code == 404

    client.force_login(user_with_roles(tree["ENG"], "support"))
    assert client.get(reverse("participation:service_years")).status_code == 404
    assert "Services" not in [item["text"] for item in client.get("/").context["navigation"]]


def test_every_service_year_choice_is_offered_by_name_never_by_code(rulesets):
    from calculation.forms import YearEndRunForm
    from declarations.filters import DeclarationFilter
    from extracts.filters import ExtractFilter
    from participation.forms import RulesetUploadForm

    fields = [
        YearEndRunForm().fields["service_year"],
        ExtractFilter().form.fields["service_year"],
        RulesetUploadForm(years=ServiceYear.objects.all()).fields["service_year"],
        DeclarationFilter(sub_icbs=Organisation.objects.none()).form.fields["service_year"],
    ]
    names = set(ServiceYear.objects.values_list("name", flat=True))
    for field in fields:
        labels = [label for value, label in field.choices if value != ""]
        assert all(label in names for label in labels), labels[:3]
        assert "---------" not in [label for _, label in field.choices]
    assert "Quality and Outcomes Framework 2023/24" in [label for _, label in fields[0].choices]
