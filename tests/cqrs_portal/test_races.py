"""A request that loses a race at the database gets a page saying so, never a server error."""

import pytest
from django.db import IntegrityError, OperationalError, transaction
from django.urls import path

from accounts.models import Membership
from cqrs_portal.urls import urlpatterns as portal_urlpatterns
from tests.factories import user_with_roles


def duplicate_membership(request):
    # Two identical active roles for one user, in one action's transaction: what the loser of two
    # simultaneous grants attempts.
    with transaction.atomic():
        membership = Membership.objects.get(user=request.user)
        Membership.objects.create(
            user=request.user, organisation=membership.organisation, role=membership.role
        )
    raise AssertionError("the constraint should have refused the second role")


urlpatterns = [path("race/", duplicate_membership), *portal_urlpatterns]


@pytest.mark.urls("tests.cqrs_portal.test_races")
@pytest.mark.django_db(transaction=True)
def test_a_request_that_loses_a_race_gets_a_409_page_and_saves_nothing(client):
    from tests.factories import build_organisation_tree

    tree = build_organisation_tree()
    user = user_with_roles(tree["A00001"], "view")
    client.force_login(user)
    client.raise_request_exception = False
    response = client.get("/race/")
    assert response.status_code == 409
    assert b"Someone else made that change at the same moment" in response.content
    assert Membership.objects.filter(user=user).count() == 1


def test_other_database_errors_are_not_taken_for_races():
    from cqrs_portal.middleware import _is_race

    assert _is_race(IntegrityError("duplicate key"))
    assert not _is_race(OperationalError("connection refused"))
