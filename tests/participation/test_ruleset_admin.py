from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import AuditEvent
from participation.models import Indicator, ServiceYear
from tests.factories import user_with_roles


@pytest.fixture
def rulesets(db):
    call_command("load_rulesets")


@pytest.fixture
def manager(tree):
    return user_with_roles(tree["ENG"], "service_management")


@pytest.fixture
def support(tree):
    return user_with_roles(tree["ENG"], "support")


def indicator(year_code: str, code: str) -> Indicator:
    return Indicator.objects.get(service_year__code=year_code, code=code)


def change_url(obj) -> str:
    return reverse(f"admin:participation_{obj._meta.model_name}_change", args=[obj.pk])


def indicator_form(obj: Indicator, **changes) -> dict:
    """The indicator change form as the browser would post it, with `changes` applied."""
    editable = [
        "group_code", "group_description", "domain_code", "kind", "points", "prevalence_adjusted",
        "carries_register", "patient_list", "additional_patient_list", "lower_threshold", "upper_threshold",
        "threshold_confidence", "income_protected", "base_indicator_code", "definition_confidence",
        "provenance_note",
    ]  # fmt: skip
    values = {name: getattr(obj, name) for name in editable} | changes
    form = {}
    for name, value in values.items():
        if value is True:
            form[name] = "on"
        elif value not in (False, None):
            form[name] = str(value)
    return form


def test_service_manager_changes_a_threshold_in_the_admin_and_it_is_audited(rulesets, manager, client):
    af006 = indicator("QOF2324", "AF006")
    client.force_login(manager)

    response = client.post(
        change_url(af006), indicator_form(af006, lower_threshold="45", threshold_confidence="confirmed")
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    af006.refresh_from_db()
    assert (af006.lower_threshold, af006.threshold_confidence) == (Decimal("45"), "confirmed")
    event = AuditEvent.objects.get(action="indicator.updated")
    assert event.actor == manager
    assert event.object_id == str(af006.pk)
    assert event.before == {"lower_threshold": "40.00", "threshold_confidence": "inferred"}
    assert event.after == {"lower_threshold": "45.00", "threshold_confidence": "confirmed"}


def test_admin_refuses_a_change_that_breaks_the_ruleset_rules(rulesets, manager, client):
    af006 = indicator("QOF2324", "AF006")
    client.force_login(manager)

    response = client.post(change_url(af006), indicator_form(af006, lower_threshold="95"))

    assert response.status_code == 200
    af006.refresh_from_db()
    assert af006.lower_threshold == Decimal("40")
    assert not AuditEvent.objects.filter(action="indicator.updated").exists()


def test_service_manager_edits_a_years_parameters_with_an_audit_event(rulesets, manager, client):
    qof2526 = ServiceYear.objects.get(code="QOF2526")
    client.force_login(manager)
    form = client.get(change_url(qof2526)).context["adminform"].form
    data = {
        name: value
        for name, value in {**form.initial, "national_average_list_size": 10123}.items()
        if name in form.fields and value is not None and value is not False
    }
    data = {name: "on" if value is True else value for name, value in data.items()}
    data["payment_cutoff_0"], data["payment_cutoff_1"] = "", ""

    response = client.post(change_url(qof2526), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    qof2526.refresh_from_db()
    assert qof2526.national_average_list_size == 10123
    event = AuditEvent.objects.get(action="service_year.updated")
    assert (event.actor, event.before, event.after) == (
        manager,
        {"national_average_list_size": None},
        {"national_average_list_size": 10123},
    )


def test_support_staff_read_rulesets_but_cannot_change_them(rulesets, support, client):
    af006 = indicator("QOF2324", "AF006")
    client.force_login(support)

    assert client.get(reverse("admin:participation_indicator_changelist")).status_code == 200
    page = client.get(change_url(af006))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.post(change_url(af006), indicator_form(af006, points="13")).status_code == 403
    assert client.get(reverse("admin:participation_indicator_add")).status_code == 403
    af006.refresh_from_db()
    assert af006.points == Decimal("12")


def test_practice_users_never_reach_the_ruleset_admin(rulesets, tree, client):
    client.force_login(user_with_roles(tree["A00001"], "user_admin"))

    response = client.get(reverse("admin:participation_indicator_changelist"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_indicator_list_flags_values_that_are_not_confirmed(rulesets, support, client):
    client.force_login(support)

    page = client.get(
        reverse("admin:participation_indicator_changelist"),
        {"service_year__id__exact": ServiceYear.objects.get(code="QOF2324").pk},
    ).content.decode()

    assert "participation/admin.css" in page
    assert '<strong class="ruleset-flag ruleset-flag--unconfirmed">thresholds unconfirmed</strong>' in page
    assert '<strong class="ruleset-flag ruleset-flag--inferred">thresholds inferred</strong>' in page
    # 2023/24 points, kinds and patient lists are confirmed; only thresholds are flagged.
    assert "definition inferred" not in page


def test_indicator_form_warns_when_its_values_are_not_confirmed(rulesets, support, client):
    client.force_login(support)

    chol004 = client.get(change_url(indicator("QOF2425", "CHOL004"))).content.decode()
    vi001 = client.get(change_url(indicator("QOF2324", "VI001"))).content.decode()

    assert 'class="ruleset-warning"' in chol004
    assert "The definition (points, kind, patient lists, income protection) is inferred" in chol004
    assert "The thresholds are unconfirmed" in chol004
    assert "Replaces CHOL002" in chol004
    assert 'class="ruleset-warning"' not in vi001


def test_service_year_list_flags_parameters_and_rulesets_not_confirmed(rulesets, support, client):
    client.force_login(support)

    page = client.get(reverse("admin:participation_serviceyear_changelist")).content.decode()
    form = client.get(change_url(ServiceYear.objects.get(code="QOF2526"))).content.decode()

    assert '<strong class="ruleset-flag ruleset-flag--unconfirmed">parameters unconfirmed</strong>' in page
    assert '<strong class="ruleset-flag ruleset-flag--inferred">parameters inferred</strong>' in page
    assert "76 indicators</a>" in page
    assert "Money parameters are unconfirmed: average list size not found" in form
    assert "no CPI can be calculated" in form


def test_service_manager_adds_an_indicator_to_a_new_year_with_an_audit_event(rulesets, manager, client):
    # 2022/23 ships without a ruleset (2025/26, once the example here, now ships its own).
    qof2526 = ServiceYear.objects.get(code="QOF2223")
    client.force_login(manager)
    form = {
        "service_year": qof2526.pk, "code": "CHOL004", "group_code": "CHOL",
        "group_description": "Cholesterol control and lipid management", "domain_code": "CL",
        "kind": "percentage", "points": "44", "patient_list": "TOTAL", "lower_threshold": "20",
        "upper_threshold": "45", "threshold_confidence": "unconfirmed", "definition_confidence": "inferred",
    }  # fmt: skip

    response = client.post(reverse("admin:participation_indicator_add"), form)

    assert response.status_code == 302, response.content.decode()[:2000]
    added = indicator("QOF2223", "CHOL004")
    event = AuditEvent.objects.get(action="indicator.created")
    assert (event.actor, event.object_id) == (manager, str(added.pk))
    assert event.after["points"] == "44.00"
    assert event.after["service_year_id"] == qof2526.pk


def test_indicator_list_needs_the_same_few_queries_for_a_whole_ruleset(
    rulesets, manager, client, django_assert_max_num_queries
):
    client.force_login(manager)
    client.get(reverse("admin:participation_indicator_changelist"))

    with django_assert_max_num_queries(13):
        page = client.get(reverse("admin:participation_indicator_changelist"))

    assert page.content.decode().count('class="field-provenance"') == 100


def test_admin_explains_that_income_protection_needs_a_base_year(rulesets, manager, client):
    af001 = indicator("QOF2324", "AF001")
    client.force_login(manager)

    response = client.post(change_url(af001), indicator_form(af001, income_protected=True))

    assert response.status_code == 200
    assert "has no base year to credit achievement from" in response.content.decode()
    af001.refresh_from_db()
    assert not af001.income_protected
