import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import actions
from accounts.models import Organisation, PcnMembership
from accounts.organisation_import import parse_mapping
from tests.downloads import column, csv_rows, xlsx_sheet
from tests.factories import mapping_csv, user_with_roles

URL = reverse("home:practice_list")


def test_commissioner_sees_only_the_practices_it_commissions(client, tree):
    client.force_login(user_with_roles(tree["01A"], "view"))
    response = client.get(URL)
    assert response.status_code == 200
    codes = [row.record.code for row in response.context["table"].rows]
    assert codes == ["A00001", "A00002"]


def test_practice_user_lists_only_its_own_practice(client, tree):
    client.force_login(user_with_roles(tree["A00001"], "view"))
    assert [row.record.code for row in client.get(URL).context["table"].rows] == ["A00001"]


def test_filter_and_download(client, tree):
    client.force_login(user_with_roles(tree["ENG"], "support"))
    rows = csv_rows(client.get(URL, {"icb": "qaa", "_export": "csv"}))
    assert rows[0] == ["ODS code", "Practice", "PCN", "PCN code", "Sub-ICB location", "ICB"]
    assert [row[0] for row in rows[1:]] == ["A00001", "A00002", "A00003"]
    # A PCN by its name and its code: the code alone means nothing to most readers.
    pcn = PcnMembership.objects.get(practice__code="A00001", end_date__isnull=True).pcn
    assert rows[1][2:4] == [pcn.name, "U00001"] and pcn.name != pcn.code
    sheet = xlsx_sheet(client.get(URL, {"_export": "xlsx"}))
    assert [cell.value for cell in column(sheet, "PCN code")][:1] == ["U00001"]


@pytest.mark.parametrize("practices", [4, 60])
def test_practice_list_query_count_does_not_grow_with_rows(
    client, db, practices, django_assert_max_num_queries
):
    rows = [(f"C{n:05d}", f"U{n % 7:05d}", f"0{n % 3}C", "QCC", "Y03") for n in range(practices)]
    actions.import_organisations(
        mapping=parse_mapping(mapping_csv(rows)), effective_date=timezone.localdate(), by=None
    )
    client.force_login(user_with_roles(Organisation.objects.get(code="ENG"), "support"))
    # The list reads the year-end checklist's service year once (achievement.selectors.checklist_context).
    with django_assert_max_num_queries(10):
        response = client.get(URL, {"per_page": 100})
    assert response.status_code == 200
    assert len(response.context["table"].rows) == practices
