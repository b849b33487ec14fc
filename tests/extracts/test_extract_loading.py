import datetime as dt

import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from pandas.testing import assert_frame_equal

from accounts.models import AuditEvent
from engine import readers
from extracts.actions import ExtractRejected, load_extract
from extracts.models import Extract, ExtractSubmission
from extracts.selectors import current_extract_values, shipped_pca_codes
from participation.selectors import engine_ruleset
from tests.extracts.helpers import (
    extract_row,
    load_rulesets,
    participate,
    practice_rows,
    write_extract,
)

YEAR_END = dt.date(2024, 3, 31)


@pytest.fixture
def qof2324(tree):
    year = load_rulesets()
    participate(["A00001", "A00002"], year)
    return year


def load(path, **kwargs):
    return load_extract(path=path, file_name=path.name, by=None, **kwargs)


def field_count(**filters) -> int:
    """Field values held in the submissions matching `filters`."""
    return sum(ExtractSubmission.objects.filter(**filters).values_list("field_count", flat=True))


def stored_field(name: str, **filters) -> tuple[int, int]:
    """(line, value) of the one field `name` of the one submission matching `filters`."""
    (fields,) = ExtractSubmission.objects.filter(**filters).values_list("fields", flat=True)
    ((line, value),) = [(line, value) for line, field, value in fields if field == name]
    return line, value


def current(year, **kwargs):
    return current_extract_values(service_year=year, achievement_date=YEAR_END, **kwargs).set_index(
        ["practice_code", "indicator_code"]
    )


def test_good_extract_is_stored_whole_and_reads_back_as_the_parser_reduced_it(qof2324, tmp_path):
    path = write_extract(tmp_path, practice_rows("A00001") + practice_rows("A00002"))

    result = load(path)

    extract = result.extract
    assert result.created
    assert (extract.row_count, extract.practice_count, extract.indicator_count) == (14, 2, 3)
    assert extract.superseded_row_count == 0
    assert extract.service_year == qof2324 and extract.achievement_date == YEAR_END
    assert len(extract.checksum) == 64
    assert field_count(extract=extract, current__isnull=False) == 14
    # One submission per practice × indicator, every field with its file line.
    assert ExtractSubmission.objects.filter(extract=extract).count() == 6
    assert stored_field("Numerator", practice__code="A00001", indicator_code="AF006") == (4, 30)
    stored = ExtractSubmission.objects.get(practice__code="A00001", indicator_code="AF006")
    assert stored.submitted_at == dt.datetime(2024, 4, 2, 10, 19, 50, tzinfo=dt.UTC)  # 11:19:50 BST
    assert [line for line, _, _ in stored.fields] == sorted(line for line, _, _ in stored.fields)
    parsed = readers.read_extract(
        path,
        practice_codes={"A00001", "A00002", "A00003", "B00001"},
        ruleset=engine_ruleset(qof2324),
        pca_codes=shipped_pca_codes(),
    )
    values = current_extract_values(service_year=qof2324, achievement_date=YEAR_END)
    assert_frame_equal(values, parsed.values)
    event = AuditEvent.objects.get(action="extract.loaded")
    assert event.after["rows"] == 14 and event.object_id == str(extract.pk)


BAD_ROWS = [
    (extract_row("Z99999", "AF001", "Atrial Fibrillation Register", "4"), "ORG_CODE", "not known"),
    (extract_row("A00001", "AF006", "Numerator", "-3"), "VALUE", "negative"),
    (extract_row("A00001", "AF006", "Numerator", "2.5"), "VALUE", "whole number"),
    (extract_row("A00001", "AF006", "Numerator", "99"), "VALUE", "exceeds Denominator"),
    (extract_row("A00001", "AF006", "Denominator", "35"), "FIELD_NAME", "repeats line"),
    (extract_row("A00001", "AF001", "Atrial Fibrillation Register", "4", service="QOF2223"),
     "QUALITY_SERVICE", "differs"),
    (extract_row("A00001", "AF001", "Atrial Fibrillation Register", "4", date="20240229"),
     "ACH_DATE", "differs"),
]  # fmt: skip


@pytest.mark.parametrize(("bad_row", "field", "message"), BAD_ROWS)
def test_bad_row_rejects_the_whole_file_naming_line_and_field(qof2324, tmp_path, bad_row, field, message):
    # The bad row replaces A00001's numerator, the file's fourth line.
    rows = practice_rows("A00001") + practice_rows("A00002")
    # A repeated field is reported on its later line: the inserted copy pushes the original to line 6.
    duplicate = field == "FIELD_NAME"
    rows.insert(2, bad_row) if duplicate else rows.__setitem__(2, bad_row)
    path = write_extract(tmp_path, rows)

    with pytest.raises(ExtractRejected) as excinfo:
        load(path)

    problems = excinfo.value.problems
    assert (problems[0].line, problems[0].field) == (6 if duplicate else 4, field), excinfo.value.describe()
    assert message in problems[0].message
    assert excinfo.value.source == "extract.csv"
    assert not Extract.objects.exists() and not ExtractSubmission.objects.exists()


def test_practices_not_participating_on_the_achievement_date_are_refused_with_their_lines(qof2324, tmp_path):
    rows = practice_rows("A00001") + practice_rows("A00003") + practice_rows("B00001")
    path = write_extract(tmp_path, rows)

    with pytest.raises(ExtractRejected) as excinfo:
        load(path)

    refused = [(problem.line, problem.message.split()[1]) for problem in excinfo.value.problems]
    assert refused == [(line, "A00003") for line in range(9, 16)] + [
        (line, "B00001") for line in range(16, 23)
    ]
    assert all(problem.field == "ORG_CODE" for problem in excinfo.value.problems)
    assert not ExtractSubmission.objects.exists()


def test_participation_that_ended_before_the_achievement_date_refuses_the_practice(tree, tmp_path):
    year = load_rulesets()
    participate(["A00001"], year, end=dt.date(2023, 12, 31))
    with pytest.raises(ExtractRejected, match="A00001 is not participating"):
        load(write_extract(tmp_path, practice_rows("A00001")))


def test_unknown_service_and_date_outside_the_year_are_rejected(qof2324, tmp_path):
    unknown = [row.replace("QOF2324", "QOF9999") for row in practice_rows("A00001")]
    with pytest.raises(ExtractRejected) as excinfo:
        load(write_extract(tmp_path, unknown))
    assert (excinfo.value.problems[0].line, excinfo.value.problems[0].field) == (2, "QUALITY_SERVICE")

    next_year = [row.replace("20240331", "20250331") for row in practice_rows("A00001")]
    with pytest.raises(ExtractRejected, match="outside QOF2324"):
        load(write_extract(tmp_path, next_year, name="late.csv"))
    assert not Extract.objects.exists()


def test_a_newer_submission_supersedes_the_older_which_stays_for_audit(qof2324, tmp_path):
    first = load(write_extract(tmp_path, practice_rows("A00001") + practice_rows("A00002"))).extract
    newer_rows = practice_rows("A00001", numerator=33, submitted="05/04/2024")
    second = load(write_extract(tmp_path, newer_rows, name="resubmission.csv")).extract

    assert second.superseded_row_count == 7
    values = current(qof2324)
    assert values.loc[("A00001", "AF006"), "numerator"] == 33
    assert values.loc[("A00002", "AF006"), "numerator"] == 30
    older = {"extract": first, "practice__code": "A00001", "indicator_code": "AF006"}
    assert stored_field("Numerator", **older)[1] == 30
    assert not ExtractSubmission.objects.get(**older).current.exists()
    newer = ExtractSubmission.objects.get(extract=second, practice__code="A00001", indicator_code="AF006")
    assert newer.current.get().extract == second
    assert field_count(current__isnull=True) == 7
    assert field_count(extract=first, current__isnull=False) == 7


def test_a_resubmission_replaces_every_field_of_the_indicator_not_only_those_it_repeats(qof2324, tmp_path):
    load(write_extract(tmp_path, practice_rows("A00001")))
    without_pcas = [row for row in practice_rows("A00001", submitted="05/04/2024") if "AFIBINV1" not in row]
    load(write_extract(tmp_path, without_pcas, name="resubmission.csv"))

    assert current(qof2324).loc[("A00001", "AF006"), "pcas"] == 4


def test_an_older_submission_loaded_later_is_stored_already_superseded(qof2324, tmp_path):
    newer = load(
        write_extract(tmp_path, practice_rows("A00001", numerator=33, submitted="05/04/2024"))
    ).extract
    late = load(
        write_extract(tmp_path, practice_rows("A00001", submitted="02/04/2024"), name="old.csv")
    ).extract

    assert current(qof2324).loc[("A00001", "AF006"), "numerator"] == 33
    assert late.superseded_row_count == 0
    assert field_count(extract=late, current__isnull=True) == 7
    assert field_count(extract=newer, current__isnull=False) == 7
    assert "older than the values already held" in late.warnings[-1]


def test_rows_marked_not_last_submission_are_stored_superseded_by_their_own_extract(qof2324, tmp_path):
    rows = practice_rows("A00001", numerator=20, last="N") + practice_rows("A00001")
    extract = load(write_extract(tmp_path, rows)).extract

    assert extract.row_count == 14
    assert field_count(extract=extract, last_submission=False, current__isnull=True) == 7
    older = ExtractSubmission.objects.get(extract=extract, indicator_code="AF006", last_submission=False)
    assert stored_field("Numerator", pk=older.pk) == (4, 20)
    assert current(qof2324).loc[("A00001", "AF006"), "numerator"] == 30


def test_the_same_file_again_is_recognised_and_changes_nothing(qof2324, tmp_path):
    path = write_extract(tmp_path, practice_rows("A00001"))
    first = load(path)
    values_before = list(ExtractSubmission.objects.values_list("pk", "current__submission_id"))

    again = load(path)

    assert again.already_loaded and again.extract == first.extract
    assert list(ExtractSubmission.objects.values_list("pk", "current__submission_id")) == values_before
    assert Extract.objects.count() == 1
    assert AuditEvent.objects.filter(action="extract.loaded").count() == 1


def test_current_values_read_in_one_query_and_filter_by_practice(
    qof2324, tmp_path, django_assert_max_num_queries
):
    load(write_extract(tmp_path, practice_rows("A00001") + practice_rows("A00002")))

    with django_assert_max_num_queries(2):  # the values, and the ruleset they are reduced by
        values = current_extract_values(
            service_year=qof2324, achievement_date=YEAR_END, practice_codes=["A00002"]
        )

    assert values["practice_code"].unique().tolist() == ["A00002"]
    assert str(values["numerator"].dtype) == "Int64" and str(values["manual_answer"].dtype) == "boolean"
    nothing = current_extract_values(service_year=qof2324, achievement_date=dt.date(2023, 12, 31))
    assert nothing.empty and list(nothing.columns) == list(values.columns)


def test_bulk_load_uses_a_fixed_number_of_queries(qof2324, tmp_path, django_assert_max_num_queries):
    load(write_extract(tmp_path, practice_rows("A00001") + practice_rows("A00002"), name="first.csv"))
    # Both leave a held submission current (A00002's, or A00001's submitted later), so both merge.
    small = write_extract(tmp_path, practice_rows("A00001", submitted="03/04/2024"), name="small.csv")
    rows = practice_rows("A00001", numerator=31, submitted="04/04/2024")
    large = write_extract(tmp_path, rows + practice_rows("A00002", submitted="01/04/2024"), name="large.csv")
    with django_assert_max_num_queries(40) as small_queries:
        load(small)
    with django_assert_max_num_queries(40) as large_queries:
        load(large)
    assert len(large_queries.captured_queries) == len(small_queries.captured_queries)


def merged(queries) -> bool:
    return any("FULL JOIN" in query["sql"] for query in queries.captured_queries)


def test_postgresql_a_later_file_of_every_held_key_replaces_them_without_merging(
    postgresql, qof2324, tmp_path, django_assert_max_num_queries
):
    both = ("A00001", "A00002")
    first = load(write_extract(tmp_path, [row for code in both for row in practice_rows(code)])).extract
    # A00002's held submission is later than this file's, so this one merges and keeps it.
    rows = practice_rows("A00001", numerator=31, submitted="03/04/2024")
    rows += practice_rows("A00002", numerator=32, submitted="01/04/2024")
    with django_assert_max_num_queries(40) as partial:
        load(write_extract(tmp_path, rows, name="partial.csv"))
    later = [row for code in both for row in practice_rows(code, numerator=34, submitted="05/04/2024")]
    with django_assert_max_num_queries(40) as whole:
        third = load(write_extract(tmp_path, later, name="whole.csv")).extract

    assert merged(partial) and not merged(whole)
    values = current(qof2324)
    assert list(values.loc[[("A00001", "AF006"), ("A00002", "AF006")], "numerator"]) == [34, 34]
    assert third.superseded_row_count == 14
    assert field_count(current__isnull=False) == field_count(extract=third) == 14
    assert field_count(extract=first, current__isnull=False) == 0


def test_postgresql_a_file_of_every_held_key_but_older_than_one_merges_and_keeps_it(
    postgresql, qof2324, tmp_path, django_assert_max_num_queries
):
    load(write_extract(tmp_path, practice_rows("A00001", numerator=33, submitted="05/04/2024")))
    with django_assert_max_num_queries(40) as queries:
        late = load(write_extract(tmp_path, practice_rows("A00001"), name="late.csv")).extract

    assert merged(queries)
    assert current(qof2324).loc[("A00001", "AF006"), "numerator"] == 33
    assert late.superseded_row_count == 0 and "older than the values already held" in late.warnings[-1]


def test_postgresql_each_achievement_date_keeps_its_own_current_submissions(postgresql, qof2324, tmp_path):
    quarter = [row.replace(",20240331,", ",20231231,") for row in practice_rows("A00001", numerator=20)]
    load(write_extract(tmp_path, practice_rows("A00001")))
    load(write_extract(tmp_path, quarter, name="quarter.csv"))
    load(write_extract(tmp_path, practice_rows("A00001", numerator=31, submitted="05/04/2024"), name="b.csv"))

    assert current(qof2324).loc[("A00001", "AF006"), "numerator"] == 31
    in_december = current_extract_values(service_year=qof2324, achievement_date=dt.date(2023, 12, 31))
    assert list(in_december.loc[in_december["indicator_code"] == "AF006", "numerator"]) == [20]


def test_postgresql_loads_through_copy_and_supersedes(postgresql, qof2324, tmp_path):
    assert connection.vendor == "postgresql"
    rows = practice_rows("A00001") + practice_rows("A00002")
    load(write_extract(tmp_path, rows))
    load(write_extract(tmp_path, practice_rows("A00002", numerator=34, submitted="06/04/2024"), name="b.csv"))

    values = current(qof2324)
    assert values.loc[("A00002", "AF006"), "numerator"] == 34
    assert field_count(current__isnull=True) == 7


def test_import_extract_command_reports_load_duplicate_and_rejection(qof2324, tmp_path, capsys):
    path = write_extract(tmp_path, practice_rows("A00001"))

    call_command("import_extract", str(path), "--service", "QOF2324")
    assert "7 values for 1 practices" in capsys.readouterr().out
    call_command("import_extract", str(path))
    assert "already loaded" in capsys.readouterr().out

    bad = write_extract(tmp_path, [extract_row("A00001", "AF006", "Numerator", "x")], name="bad.csv")
    with pytest.raises(CommandError, match=r"line 2, field VALUE"):
        call_command("import_extract", str(bad))
    assert Extract.objects.count() == 1
    assert isinstance(current(qof2324), pd.DataFrame)


def test_postgresql_supersedes_some_pairs_and_keeps_newer_held_ones_in_one_load(
    postgresql, qof2324, tmp_path
):
    held = practice_rows("A00001", numerator=33, submitted="05/04/2024") + practice_rows("A00002")
    first = load(write_extract(tmp_path, held)).extract
    rows = practice_rows("A00001", numerator=31, submitted="03/04/2024")
    rows += practice_rows("A00002", numerator=32, submitted="03/04/2024")
    second = load(write_extract(tmp_path, rows, name="b.csv")).extract

    values = current(qof2324)
    assert values.loc[("A00001", "AF006"), "numerator"] == 33  # held, submitted later
    assert values.loc[("A00002", "AF006"), "numerator"] == 32
    # A00001's from the first (submitted later) and A00002's from the second are current.
    assert field_count(extract=second, current__isnull=True) == 7
    assert field_count(extract=first, current__isnull=True) == 7
    assert field_count(extract=first, current__isnull=False, practice__code="A00001") == 7
    assert second.superseded_row_count == 7 and "older than the values already held" in second.warnings[-1]


def test_postgresql_stores_a_field_name_with_json_and_copy_escapes_as_it_was(postgresql, qof2324, tmp_path):
    # A backslash and a double quote: JSON escapes both, and COPY's text format doubles the backslash.
    odd = 'Note \\ "seen"'
    rows = [
        *practice_rows("A00001"),
        extract_row("A00001", "AF006", f'"{odd.replace(chr(34), chr(34) * 2)}"', "1"),
    ]
    extract = load(write_extract(tmp_path, rows)).extract

    assert stored_field(odd, extract=extract, indicator_code="AF006")[1] == 1
    assert current(qof2324).loc[("A00001", "AF006"), "numerator"] == 30
    # The column is plain text, so PostgreSQL no longer checks it: every stored text must still parse as
    # JSON there, as the explain query's cast needs.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE json_typeof(fields::json) = 'array') "
            "FROM extracts_extractsubmission WHERE extract_id = %s",
            [extract.pk],
        )
        stored, arrays = cursor.fetchone()
    assert stored == arrays == extract.submissions.count() > 1
