import pytest
from django.db import DatabaseError, transaction

from accounts.models import AuditEvent
from tests.factories import user_with_roles


def test_every_membership_change_is_audited(tree):
    user = user_with_roles(tree["A00001"], "view")
    event = AuditEvent.objects.get(action="membership.granted")
    assert event.after == {"role": "view", "organisation": "A00001"}
    assert event.object_id == str(user.memberships.get().pk)


def test_audit_events_cannot_be_changed(tree):
    user_with_roles(tree["A00001"], "view")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.update(action="tampered")
    assert not AuditEvent.objects.filter(action="tampered").exists()


@pytest.mark.postgres
def test_audit_events_cannot_be_deleted_on_postgresql(tree, postgresql):
    user_with_roles(tree["A00001"], "view")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.exists()
