from datetime import date

import pytest
from django.core.management import CommandError, call_command

from accounts import actions
from accounts.models import AuditEvent, Organisation, OrganisationType, PcnMembership
from accounts.organisation_import import OrganisationFileError, parse_mapping
from tests.conftest import SHARED
from tests.factories import TREE_ROWS, mapping_csv

NATIONAL_MAPPING = SHARED / "qof_data" / "NHSDigital_QOF__QOF_MANUAL_MAPPINGS.csv"


def import_text(text: str, effective_date=date(2024, 4, 1)):
    return actions.import_organisations(mapping=parse_mapping(text), effective_date=effective_date, by=None)


@pytest.mark.django_db
def test_national_mapping_imports_every_organisation_in_bulk(django_assert_max_num_queries):
    # Batched writes: SQLite caps variables per statement, so it needs ~90 batches; PostgreSQL far fewer.
    with django_assert_max_num_queries(150):
        call_command("import_organisations", str(NATIONAL_MAPPING), "--effective-date", "2023-04-01")
    counts = {kind: Organisation.objects.filter(type=kind).count() for kind in OrganisationType.values}
    # 1,276 PCN codes in the file, one of which is NHS Digital's "U" placeholder for practices in no PCN.
    assert counts == {"national": 1, "region": 7, "icb": 42, "sub_icb": 106, "pcn": 1275, "practice": 6410}
    assert PcnMembership.objects.count() == 6410 - 101
    densham = Organisation.objects.select_related("parent__parent__parent").get(code="A81001")
    assert (densham.parent.code, densham.parent.parent.code, densham.parent.parent.parent.code) == (
        "16C",
        "QHM",
        "Y63",
    )
    assert densham.pcn_memberships.get().pcn.code == "U89141"


@pytest.mark.django_db
def test_second_import_of_the_same_file_changes_nothing(django_assert_max_num_queries):
    call_command("import_organisations", str(NATIONAL_MAPPING), "--effective-date", "2023-04-01")
    events = AuditEvent.objects.count()
    with django_assert_max_num_queries(5):
        summary = actions.import_organisations(
            mapping=parse_mapping(NATIONAL_MAPPING.read_text(encoding="utf-8-sig")),
            effective_date=date(2024, 4, 1),
            by=None,
        )
    assert not summary.changed and summary.unchanged == 7841
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_changed_rows_update_and_pcn_moves_are_dated():
    import_text(mapping_csv(), effective_date=date(2023, 4, 1))
    moved = [(p, "U00009" if p == "A00001" else pcn, s, i, r) for p, pcn, s, i, r in TREE_ROWS]
    text = mapping_csv(moved).replace("Practice A00002", "Renamed Surgery")
    summary = import_text(text, effective_date=date(2024, 10, 1))
    assert (summary.created, summary.updated, summary.memberships_started, summary.memberships_ended) == (
        1,
        1,
        1,
        1,
    )
    assert Organisation.objects.get(code="A00002").name == "Renamed Surgery"
    history = list(
        PcnMembership.objects.filter(practice__code="A00001")
        .order_by("start_date")
        .values_list("pcn__code", "start_date", "end_date")
    )
    assert history == [
        ("U00001", date(2023, 4, 1), date(2024, 9, 30)),
        ("U00009", date(2024, 10, 1), None),
    ]


def bad_file(transform) -> str:
    lines = mapping_csv().splitlines()
    return "\n".join(transform(lines)) + "\n"


@pytest.mark.parametrize(
    ("transform", "message"),
    [
        (
            lambda lines: [lines[0], lines[1], lines[2].replace("A00002", "", 1)],
            "line 3, PRACTICE_CODE: missing code",
        ),
        (
            lambda lines: [lines[0] + ",EXTRA", *(line + ",x" for line in lines[1:])],
            "line 1: unknown column EXTRA",
        ),
        (
            lambda lines: [lines[0], lines[1], lines[2], lines[1]],
            "line 4, PRACTICE_CODE: duplicate practice A00001",
        ),
        (
            lambda lines: [lines[0], lines[1], lines[2].replace(",QAA,", ",QZZ,")],
            "line 3, CCG_ODS_CODE: 01A disagrees with line 2",
        ),
        (lambda lines: [lines[0], lines[1] + ",surplus"], "line 2: expected 16 fields, found 17"),
    ],
    ids=["missing-code", "unknown-column", "duplicate-practice", "inconsistent-parent", "ragged-row"],
)
@pytest.mark.django_db
def test_bad_file_is_rejected_whole_with_the_line_named(tmp_path, transform, message):
    path = tmp_path / "mapping.csv"
    path.write_text(bad_file(transform))
    with pytest.raises(CommandError) as error:
        call_command("import_organisations", str(path))
    assert message in str(error.value)
    assert Organisation.objects.count() == 0 and PcnMembership.objects.count() == 0


@pytest.mark.django_db
def test_windows_1252_file_is_read():
    text = mapping_csv().replace("Practice A00001", "Practice Café")
    mapping = parse_mapping(text.encode("cp1252").decode("cp1252"))
    assert any(row.name == "Practice Café" for row in mapping.organisations)


def test_empty_file_is_rejected():
    with pytest.raises(OrganisationFileError, match="line 1"):
        parse_mapping("")
