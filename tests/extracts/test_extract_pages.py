import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from extracts.models import Extract, ExtractSubmission, ExtractUpload
from tests.downloads import column, csv_rows, xlsx_sheet
from tests.extracts.helpers import HEADER, load_rulesets, participate, practice_rows
from tests.factories import user_with_roles

UPLOAD = reverse("extracts:extract_upload")
LIST = reverse("extracts:extract_list")


@pytest.fixture
def upload(client, django_capture_on_commit_callbacks, upload_storage):
    """POST a file as the page does; the load task runs (in-process) once the request has committed, and
    the response is the upload's own page as it reads then."""

    def post(file, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(UPLOAD, {"file": file}, **kwargs)
        if response.status_code != 302:
            return response
        return client.get(response.url)

    return post


@pytest.fixture
def support(client, tree):
    year = load_rulesets()
    participate(["A00001", "A00002"], year)
    user = user_with_roles(tree["ENG"], "support")
    client.force_login(user)
    return user


def csv_file(rows, name="extract.csv"):
    return SimpleUploadedFile(name, "\r\n".join([HEADER, *rows, ""]).encode(), content_type="text/csv")


def test_support_uploads_an_extract_and_sees_its_page(client, support, upload):
    response = upload(csv_file(practice_rows("A00001")))

    extract = Extract.objects.get()
    assert extract.uploaded_by == support
    assert response.status_code == 200 and b"Loaded" in response.content
    assert reverse("extracts:extract_detail", args=[extract.pk]).encode() in response.content
    page = client.get(reverse("extracts:extract_detail", args=[extract.pk]))
    assert extract.checksum.encode() in page.content and b"Values stored" in page.content


def test_the_upload_request_stores_the_file_and_a_worker_loads_it(client, support, upload_storage):
    response = client.post(UPLOAD, {"file": csv_file(practice_rows("A00001"))})  # no task runs here

    received = ExtractUpload.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "extracts:upload_detail", args=[received.pk]
    )
    assert received.status == ExtractUpload.Status.RECEIVED and not Extract.objects.exists()
    assert (upload_storage / received.stored_name).exists()
    page = client.get(response.url)
    assert b"Waiting for a worker" in page.content and b"hx-trigger" in page.content

    from extracts.tasks import load_extract_upload

    load_extract_upload(received.pk)
    received.refresh_from_db()
    assert received.status == ExtractUpload.Status.LOADED and received.extract == Extract.objects.get()
    assert not (upload_storage / received.stored_name).exists(), "the uploaded file outlived its load"
    assert b"hx-trigger" not in client.get(reverse("extracts:upload_progress", args=[received.pk])).content


def test_uploading_the_same_file_again_says_so_and_changes_nothing(client, support, upload):
    upload(csv_file(practice_rows("A00001")))
    response = upload(csv_file(practice_rows("A00001"), name="again.csv"))
    assert b"Nothing was changed" in response.content
    assert Extract.objects.count() == 1


def test_rejected_upload_lists_problems_with_line_and_field_and_stores_nothing(client, support, upload):
    rows = practice_rows("A00001")
    rows[2] = rows[2].replace(",30,", ",-1,")
    response = upload(csv_file(rows))

    assert ExtractUpload.objects.get().status == ExtractUpload.Status.REJECTED
    assert b"was rejected: nothing was stored" in response.content
    assert b"Line 4, VALUE: &#x27;-1&#x27; is negative" in response.content
    assert not ExtractSubmission.objects.exists()


def test_upload_must_be_csv_and_within_the_size_limit(client, support, settings, upload):
    response = upload(SimpleUploadedFile("extract.xlsx", b"PK\x03\x04"))
    assert response.status_code == 400 and b"must be a CSV file" in response.content
    settings.EXTRACT_UPLOAD_MAX_BYTES = 100
    response = upload(csv_file(practice_rows("A00001")))
    assert response.status_code == 400 and b"must be smaller than 100 bytes" in response.content
    assert not Extract.objects.exists() and not ExtractUpload.objects.exists()


def test_extract_pages_are_national_support_only(client, tree, support, upload):
    upload(csv_file(practice_rows("A00001")))
    detail = reverse("extracts:extract_detail", args=[Extract.objects.get().pk])
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
    client, support, tmp_path, extracts, django_assert_max_num_queries, upload
):
    for n in range(extracts):
        upload(csv_file(practice_rows("A00001", numerator=n), name=f"e{n}.csv"))
    with django_assert_max_num_queries(12):
        response = client.get(LIST, {"per_page": 100})
    assert len(response.context["table"].rows) == extracts
    rows = csv_rows(client.get(LIST, {"_export": "csv", "file_name": "e1"}))
    assert rows[0][:4] == ["Extract", "File", "Service year", "Achievement date"]
    assert len(rows) > 1 and all(row[1].startswith("e1") for row in rows[1:])
    # Who loaded each extract is named in the download, as on the page.
    loaded_by = rows[0].index("Loaded by")
    assert {row[loaded_by] for row in rows[1:]} == {support.full_name or support.email}
    sheet = xlsx_sheet(client.get(LIST, {"_export": "xlsx", "service_year": "QOF2324"}))
    assert all(isinstance(cell.value, dt.date) for cell in column(sheet, "Achievement date"))
    assert all(isinstance(cell.value, int) for cell in column(sheet, "Values"))
