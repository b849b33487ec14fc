import csv
import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.db.models import Sum

from accounts.models import AuditEvent
from participation import actions
from participation.models import Indicator, Provenance, ServiceYear
from participation.ruleset_files import RULESETS_DIR, RulesetFileError, read_rulesets
from participation.selectors import ruleset_frame, service_years_with_flags
from tests.factories import user_with_roles

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
REFERENCE_RULESET = SHARED / "reference" / "qof_2023_24_indicators.csv"

PROTECTED_2024_25 = {
    # the 19 registers (81 points)
    "AF001", "AST005", "CAN001", "CHD001", "CKD005", "COPD015", "DEM001", "DM017", "EP001", "HF001",
    "HYP001", "LD004", "MH001", "OB003", "OST004", "PAD001", "PC001", "RA001", "STIA001",
    # six clinical, one public health and the six quality improvement indicators (131 points)
    "AST008", "CAN004", "CAN005", "COPD014", "DEP004", "MH021", "SMOK005",
    "QI013", "QI014", "QI016", "QI017", "QI018", "QI019",
}  # fmt: skip


@pytest.fixture
def rulesets(db):
    call_command("load_rulesets")


def year(code: str) -> ServiceYear:
    return ServiceYear.objects.get(code=code)


def test_load_rulesets_creates_the_2023_24_ruleset_of_76_indicators_and_635_points(rulesets):
    qof2324 = year("QOF2324")

    assert qof2324.name == "Quality and Outcomes Framework 2023/24"
    assert qof2324.indicators.count() == 76
    assert qof2324.indicators.aggregate(total=Sum("points"))["total"] == Decimal("635")
    assert not qof2324.indicators.filter(income_protected=True).exists()


def test_load_rulesets_creates_every_year_from_2013_14_with_the_reference_parameters(rulesets):
    reference = list(csv.DictReader((SHARED / "reference" / "year_parameters.csv").open()))
    qof_years = ServiceYear.objects.filter(service__code="QOF")
    years = {service_year.label: service_year for service_year in qof_years}

    assert len(years) == 14
    assert sorted(years) == [row["year"] for row in reference]
    for row in reference:
        service_year = years[row["year"]]
        assert service_year.point_value == Decimal(row["point_value_gbp"])
        assert service_year.aspiration_rate == Decimal(row["aspiration_rate"])
        assert service_year.national_average_list_size == (
            int(row["national_average_list_size"]) if row["national_average_list_size"] else None
        )
        assert service_year.parameters_confidence == row["confidence"]
        assert service_year.start_date.isoformat() == f"{row['year'][:4]}-04-01"
        assert service_year.end_date.isoformat() == f"{int(row['year'][:4]) + 1}-03-31"
    assert [y.code for y in ServiceYear.objects.filter(automatic_participation=True)] == ["QOF1314"]
    assert year("QOF2021").missing_manual_answer_default == ServiceYear.MissingAnswer.YES
    assert year("QOF2223").missing_manual_answer_default == ServiceYear.MissingAnswer.NO
    assert year("QOF2526").national_average_list_size is None


def test_every_shipped_ruleset_adds_up_to_its_years_published_maximum(rulesets):
    for service_year in ServiceYear.objects.filter(indicators__isnull=False).distinct():
        total = service_year.indicators.aggregate(total=Sum("points"))["total"]
        assert total == service_year.max_points, service_year.code


def test_loading_the_rulesets_again_changes_nothing(rulesets):
    before = (
        list(Indicator.objects.order_by("pk").values()),
        list(ServiceYear.objects.order_by("pk").values()),
    )
    events = AuditEvent.objects.count()

    call_command("load_rulesets")
    call_command("load_rulesets", "--update")

    assert (
        list(Indicator.objects.order_by("pk").values()),
        list(ServiceYear.objects.order_by("pk").values()),
    ) == before
    assert AuditEvent.objects.count() == events


def test_reloading_keeps_a_service_managers_correction_unless_told_to_update(rulesets, capsys):
    indicator = Indicator.objects.get(service_year__code="QOF2324", code="AF006")
    actions.update_indicator(
        indicator=indicator,
        changes={"lower_threshold": Decimal("45"), "threshold_confidence": Provenance.CONFIRMED},
        by=None,
    )

    call_command("load_rulesets")
    indicator.refresh_from_db()
    assert indicator.lower_threshold == Decimal("45")
    assert "QOF2324 AF006: lower_threshold, threshold_confidence" in capsys.readouterr().err

    call_command("load_rulesets", "--update")
    indicator.refresh_from_db()
    assert (indicator.lower_threshold, indicator.threshold_confidence) == (Decimal("40"), "inferred")
    overwrite = AuditEvent.objects.filter(action="indicator.updated").first()
    assert overwrite.before == {"lower_threshold": "45.00", "threshold_confidence": "confirmed"}
    assert overwrite.after == {"lower_threshold": "40.00", "threshold_confidence": "inferred"}


def test_2024_25_protects_32_indicators_worth_212_points_at_2023_24_achievement(rulesets):
    qof2425 = year("QOF2425")
    protected = qof2425.indicators.filter(income_protected=True)

    assert qof2425.base_year == year("QOF2324")
    assert set(protected.values_list("code", flat=True)) == PROTECTED_2024_25
    assert protected.aggregate(total=Sum("points"))["total"] == Decimal("212")
    assert qof2425.indicators.count() == 76
    assert qof2425.indicators.aggregate(total=Sum("points"))["total"] == Decimal("635")


def test_2024_25_replaces_the_cholesterol_indicators_and_flags_what_was_inferred(rulesets):
    qof2425 = year("QOF2425")
    renamed = dict(
        qof2425.indicators.exclude(base_indicator_code="").values_list("code", "base_indicator_code")
    )

    assert renamed == {"CHOL003": "CHOL001", "CHOL004": "CHOL002"}
    assert not qof2425.indicators.filter(code__in=["CHOL001", "CHOL002"]).exists()
    assert set(
        qof2425.indicators.exclude(definition_confidence=Provenance.CONFIRMED).values_list("code", flat=True)
    ) == {"CHOL003", "CHOL004"}
    # Thresholds were read for 2023/24 only: none can be confirmed for 2024/25.
    assert not qof2425.indicators.filter(threshold_confidence=Provenance.CONFIRMED).exists()


@pytest.mark.parametrize(
    "values",
    [
        {"kind": "percentage", "lower_threshold": None, "upper_threshold": None,
         "threshold_confidence": "inferred"},
        {"kind": "percentage", "lower_threshold": Decimal(90), "upper_threshold": Decimal(40),
         "threshold_confidence": "inferred"},
        {"kind": "register", "lower_threshold": Decimal(40), "upper_threshold": Decimal(90),
         "threshold_confidence": "inferred"},
        {"kind": "management_information", "points": Decimal(1)},
        {"kind": "register", "points": Decimal(-1)},
    ],
    ids=["percentage-without-thresholds", "thresholds-reversed", "register-with-thresholds", "paid-mi",
         "negative-points"],
)  # fmt: skip
def test_database_rejects_an_inconsistent_indicator(rulesets, values):
    fields = {
        "service_year": year("QOF2526"),
        "code": "XX001",
        "group_code": "XX",
        "group_description": "Test",
        "domain_code": "CL",
        "points": Decimal(5),
        "patient_list": "TOTAL",
        "prevalence_adjusted": False,
        **values,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        Indicator.objects.create(**fields)


def test_ruleset_frame_round_trips_the_reference_ruleset_in_one_query(rulesets, django_assert_num_queries):
    reference = pd.read_csv(REFERENCE_RULESET, dtype=str, keep_default_na=False)
    qof2324 = year("QOF2324")

    with django_assert_num_queries(1):
        frame = ruleset_frame(qof2324)

    assert list(frame.columns) == [*reference.columns, "income_protected", "base_indicator_code"]
    expected = reference.assign(
        points=reference.points.map(Decimal),
        lower_threshold=reference.lower_threshold.map(lambda text: Decimal(text) if text else None),
        upper_threshold=reference.upper_threshold.map(lambda text: Decimal(text) if text else None),
        carries_register=reference.carries_register == "1",
        prevalence_adjusted=reference.prevalence_adjusted == "1",
    )
    assert frame[reference.columns].to_dict("records") == expected.to_dict("records")
    assert all(isinstance(value, Decimal) for value in frame.points)
    assert frame.carries_register.dtype == bool


def test_ruleset_files_with_a_bad_value_are_rejected_and_nothing_is_written(db, tmp_path):
    shutil.copytree(RULESETS_DIR, tmp_path, dirs_exist_ok=True)
    ruleset = tmp_path / "indicators" / "QOF2324.csv"
    ruleset.write_text(
        ruleset.read_text().replace(
            "AF006,AF,Atrial fibrillation,CL,12,", "AF006,AF,Atrial fibrillation,CL,twelve,"
        )
    )

    with pytest.raises(RulesetFileError, match=r"QOF2324\.csv line 3, points: 'twelve' is not a number"):
        read_rulesets(tmp_path)
    assert not ServiceYear.objects.exists()


def test_a_ruleset_that_breaks_a_constraint_is_rejected_as_a_whole(db, tmp_path):
    shutil.copytree(RULESETS_DIR, tmp_path, dirs_exist_ok=True)
    ruleset = tmp_path / "indicators" / "QOF2324.csv"
    ruleset.write_text(ruleset.read_text().replace(",1,40,90,inferred,", ",1,90,40,inferred,", 1))

    with pytest.raises(RulesetFileError, match=r"QOF2324\.csv AF006"):
        actions.load_rulesets(rulesets=read_rulesets(tmp_path), by=None)
    assert not ServiceYear.objects.exists()
    assert not Indicator.objects.exists()


def test_income_protection_needs_a_base_year(rulesets):
    indicator = Indicator.objects.get(service_year__code="QOF2324", code="AF001")

    with pytest.raises(ValidationError, match="no base year"):
        actions.update_indicator(indicator=indicator, changes={"income_protected": True}, by=None)


def test_only_national_service_management_may_change_a_ruleset(rulesets, tree):
    indicator = Indicator.objects.get(service_year__code="QOF2324", code="AF006")
    support = user_with_roles(tree["ENG"], "support")
    manager = user_with_roles(tree["ENG"], "service_management")

    with pytest.raises(PermissionDenied):
        actions.update_indicator(indicator=indicator, changes={"points": Decimal(13)}, by=support)
    actions.update_indicator(indicator=indicator, changes={"points": Decimal(13)}, by=manager)

    indicator.refresh_from_db()
    assert indicator.points == Decimal(13)


@pytest.mark.parametrize(
    ("code", "reference", "count", "points"),
    [
        ("QOF2526", "qof_2025_26_indicators.csv", 44, Decimal("564")),
        ("QOF2627", "qof_2026_27_indicators.csv", 43, Decimal("582")),
    ],
)
def test_the_current_qof_years_ship_with_each_values_provenance(rulesets, code, reference, count, points):
    """2025/26 and 2026/27 come from shared/reference with per-row confidence: nothing is presented as more
    certain than its source."""
    service_year = year(code)
    assert service_year.indicators.count() == count
    assert (
        service_year.indicators.aggregate(total=Sum("points"))["total"] == points == service_year.max_points
    )
    rows = {row["indicator_code"]: row for row in csv.DictReader((SHARED / "reference" / reference).open())}
    for indicator in service_year.indicators.all():
        row = rows[indicator.code]
        assert indicator.points == Decimal(row["points"])
        assert indicator.definition_confidence == row["points_confidence"], indicator.code
        assert indicator.threshold_confidence == row["threshold_confidence"], indicator.code
        assert indicator.provenance_note == row["source"]
    flagged = service_years_with_flags().get(code=code)
    assert flagged.flagged_indicator_count == sum(
        1
        for row in rows.values()
        if row["points_confidence"] != "confirmed" or row["threshold_confidence"] != "confirmed"
    )
    assert not service_year.parameters_confirmed


RULESET_HEADER = (
    "indicator_code,group_code,group_description,domain_code,points,kind,carries_register,patient_list,"
    "additional_patient_list,prevalence_adjusted,lower_threshold,upper_threshold,threshold_confidence"
)


def test_a_service_manager_loads_a_new_years_ruleset_from_a_file(rulesets, client, tree):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    manager = user_with_roles(tree["ENG"], "service_management")
    client.force_login(manager)
    body = "\n".join(
        [
            RULESET_HEADER + ",points_confidence,source",
            "AF006,AF,Atrial fibrillation,CL,12,percentage,1,TOTAL,,1,40,90,confirmed,confirmed,SFE 2022",
            "QI001,QI,Quality improvement,QI,27,manual,0,TOTAL,,0,,,,,",
        ]
    )
    upload = SimpleUploadedFile("QOF1314.csv", body.encode(), content_type="text/csv")
    response = client.post(
        reverse("participation:ruleset_upload"), {"service_year": "QOF1314", "file": upload}
    )

    assert response.status_code == 302 and response.url == reverse("participation:ruleset", args=["QOF1314"])
    af006, qi001 = year("QOF1314").indicators.order_by("code")
    assert (af006.points, af006.lower_threshold, af006.definition_confidence) == (
        Decimal(12),
        40,
        "confirmed",
    )
    assert af006.provenance_note == "SFE 2022"
    # What the file does not vouch for stays flagged.
    assert qi001.definition_confidence == "unconfirmed" and qi001.provenance_note == "Loaded from QOF1314.csv"
    page = client.get(response.url)
    assert b"Definition unconfirmed" in page.content and b"Confirmed" in page.content
    assert AuditEvent.objects.filter(action="indicators.loaded", actor=manager).exists()


def test_a_bad_ruleset_file_is_refused_whole_naming_line_and_column(rulesets, client, tree):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    client.force_login(user_with_roles(tree["ENG"], "service_management"))
    body = "\n".join(
        [
            RULESET_HEADER,
            "AF006,AF,Atrial fibrillation,CL,12,percentage,1,TOTAL,,1,40,90,confirmed",
            "AF008,AF,Atrial fibrillation,CL,twelve,percentage,0,TOTAL,,1,90,70,confirmed",
        ]
    )
    upload = SimpleUploadedFile("bad.csv", body.encode(), content_type="text/csv")
    response = client.post(
        reverse("participation:ruleset_upload"), {"service_year": "QOF2223", "file": upload}
    )

    assert response.status_code == 400
    text = response.content.decode()
    assert "bad.csv was rejected: nothing was stored" in text and "Line 3, points" in text
    assert "Line 3, lower_threshold" in text or "Line 3, upper_threshold" in text
    assert not year("QOF2223").indicators.exists()
