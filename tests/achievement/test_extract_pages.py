import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from achievement.models import Extract, ExtractValue
from tests.achievement.achievement_helpers import HEADER, load_rulesets, participate, practice_rows
from tests.factories import user_with_roles

UPLOAD = reverse("achievement:extract_upload")
LIST = reverse("achievement:extract_list")


@pytest.fixture
def support(client, tree):
    year = load_rulesets()
    participate(["A00001", "A00002"], year)
    user = user_with_roles(tree["ENG"], "support")
    client.force_login(user)
    return user


def csv_file(rows, name="extract.csv"):
    return SimpleUploadedFile(name, "\r\n".join([HEADER, *rows, ""]).encode(), content_type="text/csv")


def test_support_uploads_an_extract_and_sees_its_page(client, support):
    response = client.post(UPLOAD, {"file": csv_file(practice_rows("A00001"))})

    extract = Extract.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "achievement:extract_detail", args=[extract.pk]
    )
    assert extract.uploaded_by == support
    page = client.get(response.url)
    assert extract.checksum.encode() in page.content and b"Values stored" in page.content


def test_uploading_the_same_file_again_says_so_and_changes_nothing(client, support):
    client.post(UPLOAD, {"file": csv_file(practice_rows("A00001"))})
    response = client.post(UPLOAD, {"file": csv_file(practice_rows("A00001"), name="again.csv")}, follow=True)
    assert b"Nothing was changed" in response.content
    assert Extract.objects.count() == 1


def test_rejected_upload_lists_problems_with_line_and_field_and_stores_nothing(client, support):
    rows = practice_rows("A00001")
    rows[2] = rows[2].replace(",30,", ",-1,")
    response = client.post(UPLOAD, {"file": csv_file(rows)})

    assert response.status_code == 400
    assert b"was rejected: nothing was stored" in response.content
    assert b"Line 4, VALUE: &#x27;-1&#x27; is negative" in response.content
    assert not ExtractValue.objects.exists()


def test_upload_must_be_csv_and_within_the_size_limit(client, support, settings):
    response = client.post(UPLOAD, {"file": SimpleUploadedFile("extract.xlsx", b"PK\x03\x04")})
    assert response.status_code == 400 and b"must be a CSV file" in response.content
    settings.EXTRACT_UPLOAD_MAX_BYTES = 100
    response = client.post(UPLOAD, {"file": csv_file(practice_rows("A00001"))})
    assert response.status_code == 400 and b"must be smaller than 100 bytes" in response.content
    assert not Extract.objects.exists()


def test_extract_pages_are_national_support_only(client, tree, support):
    client.post(UPLOAD, {"file": csv_file(practice_rows("A00001"))})
    detail = reverse("achievement:extract_detail", args=[Extract.objects.get().pk])
    for organisation, role in [
        ("ENG", "service_management"),
        ("QAA", "view"),
        ("A00001", "achievement_entry"),
    ]:
        client.force_login(user_with_roles(tree[organisation], role))
        for url in [LIST, UPLOAD, detail]:
            assert client.get(url).status_code == 404, (role, url)


@pytest.mark.parametrize("extracts", [2, 30])
def test_extract_list_query_count_does_not_grow_and_exports(
    client, support, tmp_path, extracts, django_assert_max_num_queries
):
    for n in range(extracts):
        client.post(UPLOAD, {"file": csv_file(practice_rows("A00001", numerator=n), name=f"e{n}.csv")})
    with django_assert_max_num_queries(12):
        response = client.get(LIST, {"per_page": 100})
    assert len(response.context["table"].rows) == extracts
    lines = client.get(LIST, {"_export": "csv", "file_name": "e1"}).content.decode().splitlines()
    assert lines[0].startswith("Extract,File,Service year,Achievement date")
    assert all(",e1" in line for line in lines[1:]) and len(lines) > 1
    xlsx = client.get(LIST, {"_export": "xlsx", "service_year": "QOF2324"})
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
