"""Service kinds as data: every service year says how it is paid and when it is achieved, and the rates of
the services not paid in points come from the reference files with their provenance (docs/adr/0015)."""

import csv
import shutil
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.models import AuditEvent
from participation import actions
from participation.models import Provenance, RuleParameter, ServiceRate, ServiceYear
from participation.ruleset_files import RULESETS_DIR, RulesetFileError, read_rulesets
from tests.factories import user_with_roles

RATES = RULESETS_DIR / "rates"


@pytest.fixture
def rulesets(db):
    call_command("load_rulesets")


@pytest.fixture
def manager(tree):
    return user_with_roles(tree["ENG"], "service_management")


def rate(year_code: str, component: str) -> ServiceRate:
    return ServiceRate.objects.get(service_year__code=year_code, component=component)


def test_every_reference_rate_is_loaded_with_its_confidence_and_source(rulesets):
    enhanced = list(csv.DictReader((RATES / "enhanced_service_rates.csv").open()))
    pcn = list(csv.DictReader((RATES / "pcn_rates.csv").open()))

    assert ServiceRate.objects.count() == len(enhanced) + len(pcn)
    for row in enhanced:
        code = f"{row['service']}{row['year'][2:4]}{row['year'][5:7]}"
        loaded = rate(code, row["component"])
        assert loaded.rate == Decimal(row["rate_gbp"])
        assert loaded.confidence == row["confidence"]
        assert loaded.source == row["source"]
    for row in pcn:
        loaded = rate(f"NCD{row['year'][2:4]}{row['year'][5:7]}", row["payment"])
        assert loaded.rate == Decimal(row["rate_gbp_per_patient_per_year"])
        assert loaded.confidence == row["confidence"]


def test_the_fees_and_capitation_rates_the_issue_names(rulesets):
    assert rate("CHILDIMMS2425", "routine_childhood_dose").rate == Decimal("10.06")
    assert rate("CHILDIMMS2526", "routine_childhood_dose").rate == Decimal("12.06")
    assert rate("MMR2526", "dose_cohort_6_15").rate == Decimal("12.06")
    health_check = rate("LDHC2526", "health_check")
    assert (health_check.rate, health_check.capped_by_register) == (Decimal("140.00"), True)
    assert health_check.confidence == Provenance.UNCONFIRMED
    npp = rate("NCD2425", "network_participation")
    assert (npp.unit, npp.population, npp.paid_to) == ("per_patient_per_year", "weighted", "practice")
    access = rate("NCD2425", "enhanced_access")
    assert (access.rate, access.population, access.paid_to) == (
        Decimal("7.674"),
        "adjusted",
        "nominated_payee",
    )
    premium = rate("NCD2425", "care_home_premium")
    assert (premium.unit, premium.population, premium.rate) == ("per_bed_per_month", "beds", Decimal("10.00"))


def test_each_year_says_its_kind_and_its_achievement_dates(rulesets):
    kinds = {year.code: (year.payment_kind, year.period) for year in ServiceYear.objects.all()}

    assert kinds["QOF2627"] == ("points", "annual")
    assert kinds["LDHC2526"] == ("item_of_service", "quarterly")
    assert kinds["CHILDIMMS2526"] == ("item_of_service", "monthly")
    assert kinds["NCD2425"] == ("capitation", "monthly")
    assert ServiceYear.objects.get(code="LDHC2526").achievement_dates == [
        date(2025, 6, 30), date(2025, 9, 30), date(2025, 12, 31), date(2026, 3, 31)
    ]  # fmt: skip
    monthly = ServiceYear.objects.get(code="CHILDIMMS2526").achievement_dates
    assert (len(monthly), monthly[0], monthly[10], monthly[-1]) == (
        12, date(2025, 4, 30), date(2026, 2, 28), date(2026, 3, 31)
    )  # fmt: skip
    assert ServiceYear.objects.get(code="QOF2627").achievement_dates == [date(2027, 3, 31)]


def test_a_point_value_belongs_to_points_services_only(rulesets):
    ldhc = ServiceYear.objects.get(code="LDHC2526")
    assert ldhc.point_value is None
    with pytest.raises(IntegrityError), transaction.atomic():
        ServiceYear.objects.filter(pk=ldhc.pk).update(point_value=Decimal("100"))
    with pytest.raises(IntegrityError), transaction.atomic():
        ServiceYear.objects.filter(code="QOF2627").update(point_value=None)


def test_a_fee_in_fractions_of_a_penny_is_refused_but_a_capitation_rate_may_carry_them(rulesets, manager):
    with pytest.raises(ValidationError, match="whole pence"):
        actions.update_service_rate(
            rate=rate("LDHC2526", "health_check"), changes={"rate": Decimal("140.005")}, by=manager
        )
    npp = actions.update_service_rate(
        rate=rate("NCD2425", "network_participation"), changes={"rate": Decimal("1.7615")}, by=manager
    )
    assert npp.rate == Decimal("1.7615")


def test_a_service_manager_confirms_a_flagged_rate_and_the_change_is_audited(rulesets, manager, tree):
    flagged = rate("LDHC2526", "health_check")

    actions.update_service_rate(
        rate=flagged, changes={"confidence": Provenance.CONFIRMED, "source": "SFE 2025 Annex"}, by=manager
    )

    assert rate("LDHC2526", "health_check").confirmed
    event = AuditEvent.objects.get(action="servicerate.updated")
    assert event.before == {"confidence": "unconfirmed", "source": "no change found"}
    with pytest.raises(PermissionDenied):
        actions.update_service_rate(
            rate=flagged, changes={"rate": Decimal("1")}, by=user_with_roles(tree["A00001"], "view")
        )


def test_the_rate_list_flags_values_not_confirmed(rulesets, manager, client):
    client.force_login(manager)
    year = ServiceYear.objects.get(code="LDHC2526")

    listing = client.get(
        reverse("admin:participation_servicerate_changelist") + f"?service_year__id__exact={year.pk}"
    )
    page = client.get(reverse("admin:participation_serviceyear_change", args=[year.pk]))

    assert "rate unconfirmed" in listing.content.decode()
    assert "1 rates of this year are not confirmed." in page.content.decode()


def test_the_improvement_route_constants_are_data_flagged_and_checked_as_a_whole(rulesets, manager):
    parameters = RuleParameter.objects.filter(service_year__code="QOF2627", rule="vaccination_improvement")
    values = {parameter.name: (parameter.value, parameter.confidence) for parameter in parameters}
    assert values["lower_improvement_pp"] == ("5", "inferred")
    assert values["upper_improvement_pp"][1] == "unconfirmed"
    assert values["indicators"] == ("VI001 VI002 VI003", "secondary")

    upper = parameters.get(name="upper_improvement_pp")
    with pytest.raises(ValidationError, match="upper_improvement_pp: must be above lower_improvement_pp"):
        actions.update_rule_parameter(parameter=upper, changes={"value": "4"}, by=manager)
    with pytest.raises(ValidationError, match="baseline_method: must be one of"):
        actions.update_rule_parameter(
            parameter=parameters.get(name="baseline_method"), changes={"value": "median"}, by=manager
        )
    actions.update_rule_parameter(
        parameter=upper, changes={"value": "12.5", "confidence": Provenance.CONFIRMED}, by=manager
    )
    assert parameters.get(name="upper_improvement_pp").value == "12.5"


def test_a_rate_file_naming_an_unknown_component_is_refused_whole(db, tmp_path):
    shutil.copytree(RULESETS_DIR, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "rates" / "enhanced_service_rates.csv"
    path.write_text(path.read_text() + "LDHC,mystery,2025/26,per thing,1.00,monthly,,practice,confirmed,x\n")

    with pytest.raises(RulesetFileError, match=r"'mystery' is not in rate_components\.csv"):
        read_rulesets(tmp_path)


def test_the_ruleset_page_shows_every_rate_and_rule_constant_with_its_provenance(rulesets, tree, client):
    client.force_login(user_with_roles(tree["A00001"], "view"))

    ldhc = client.get(reverse("participation:ruleset", args=["LDHC2526"])).content.decode()
    qof = client.get(reverse("participation:ruleset", args=["QOF2627"])).content.decode()
    ncd = client.get(reverse("participation:ruleset", args=["NCD2425"])).content.decode()

    assert "Item of service (count × fee); achievement quarterly." in ldhc
    assert "£140" in ldhc and "Rate unconfirmed" in ldhc and "no ruleset yet" not in ldhc
    assert "upper_improvement_pp" in qof and "placeholder to be replaced from PRN02356" in qof
    assert "£7.674" in ncd and "The PCN&#x27;s nominated payee" in ncd
