"""Report pages kept per publication (reports/page_cache.py): a second visit is served from the cache with a
pinned handful of queries, yet a new publication shows at once, and what one user may not see never leaks
from what another user's visit cached."""

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from calculation.models import CalculationRun
from tests.calculation.helpers import run_to_the_end
from tests.factories import user_with_roles
from tests.reports.test_reports import published  # noqa: F401 (the fixture)

# Session, user, roles and navigation, permission checks, and the publications for the picker: the figures
# themselves come from the cache.
CACHED_SUMMARY_QUERIES = 10  # with where the payment stands, which moves without a publication
CACHED_PROVIDER_QUERIES = 7  # with the payments' states; the distribution chart is cached with the table


CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def visit(client, url, **params):
    """The page (without its CSRF tokens, masked afresh on every response) and the queries it took."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    return CSRF_TOKEN.sub("", response.content.decode()), len(captured)


def test_a_practice_summary_is_built_once_per_publication(
    client,
    published,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    tree, run = published
    client.force_login(user_with_roles(tree["Z10005"], "view", "finance_view"))
    url = reverse("reports:practice_summary", kwargs={"code": "Z10005"})
    first, built = visit(client, url)
    again, cached = visit(client, url)
    assert again == first and f"run {run.pk} on" in again
    assert cached == CACHED_SUMMARY_QUERIES < built, (cached, built)

    recalculation = run_to_the_end(
        django_capture_on_commit_callbacks,
        service_year=run.service_year,
        kind=CalculationRun.Kind.RECALCULATION,
        organisation=tree["Z10005"],
        reason="A corrected extract",
    )
    assert recalculation.status == CalculationRun.Status.PUBLISHED
    after, _ = visit(client, url)
    assert f"run {recalculation.pk} on" in after and f"run {run.pk} on" not in after


def test_pounds_cached_for_a_finance_user_are_not_shown_to_one_without(client, published):  # noqa: F811
    tree, _ = published
    url = reverse("reports:practice_summary", kwargs={"code": "Z10005"})
    client.force_login(user_with_roles(tree["Z10005"], "view", "finance_view"))
    assert "£" in visit(client, url)[0]
    client.force_login(user_with_roles(tree["Z10005"], "view"))
    assert "£" not in visit(client, url)[0]


def test_a_provider_report_is_built_once_per_publication_and_query(client, published):  # noqa: F811
    tree, _ = published
    client.force_login(user_with_roles(tree["ENG"], "support"))
    url = reverse("reports:provider_report", kwargs={"code": "ENG"})
    first, built = visit(client, url, sort="-points")
    again, cached = visit(client, url, sort="-points")
    assert again == first
    assert cached == CACHED_PROVIDER_QUERIES < built, (cached, built)
    # Another filter is another page, not the cached one.
    filtered, _ = visit(client, url, search="Z92001")
    assert "1 practice." in filtered and "Z92001" in filtered and "Z73000" not in filtered
