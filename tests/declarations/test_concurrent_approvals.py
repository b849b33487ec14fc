"""Two approvers (and a double click) approving the same declaration at once on PostgreSQL: exactly one
transition, one audit event, and everyone else told clearly that it was already done."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from accounts.models import AuditEvent
from accounts.roles import Role
from declarations import actions
from declarations.models import Declaration
from tests.declarations.helpers import publish
from tests.factories import build_organisation_tree, service_year, user_with_roles

pytestmark = [pytest.mark.django_db(transaction=True)]
AT_ONCE = 6


def test_approvers_racing_on_one_declaration_make_exactly_one_approval(postgresql):
    tree = build_organisation_tree()
    publish(service_year(), {tree["A00001"]: ("385.58", "84244.84")})
    declaration = Declaration.objects.get()
    actions.declare(declaration=declaration, by=None, statement_accepted=True)
    approvers = [
        user_with_roles(tree["01A" if n % 2 else "QAA"], Role.APPROVAL_MANAGEMENT) for n in range(AT_ONCE)
    ]
    barrier = threading.Barrier(AT_ONCE)
    outcomes = [None] * AT_ONCE

    def approve(index):
        try:
            seen = Declaration.objects.select_related("practice", "service_year").get(pk=declaration.pk)
            barrier.wait()
            actions.approve(declaration=seen, by=approvers[index])
            outcomes[index] = "approved"
        except ValidationError as error:
            outcomes[index] = " ".join(error.messages)
        except Exception as error:  # anything else is the failure this test exists to catch
            outcomes[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(index,)) for index in range(AT_ONCE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("approved") == 1, outcomes
    refusals = [outcome for outcome in outcomes if outcome != "approved"]
    assert all(isinstance(o, str) and "already dealt with" in o for o in refusals), refusals
    assert Declaration.objects.get().state == Declaration.State.AWAITING_FINANCE
    assert AuditEvent.objects.filter(action="declarations.approve").count() == 1
