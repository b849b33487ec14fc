"""Issue 11 item 6: the audit trail is a keyed hash chain; `verify_audit` names the first broken link after
an edit, a deletion or a TRUNCATE; and the web app's role can only INSERT and SELECT audit events."""

import itertools
import uuid

import psycopg2
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts import audit
from accounts.models import AuditChainHead, AuditEvent
from accounts.roles import Role
from tests.factories import user_with_roles


def verify_audit() -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def some_events(tree, count=3):
    for _ in range(count):
        user_with_roles(tree["A00001"], Role.VIEW)
    return list(AuditEvent.objects.order_by("position"))


def test_events_form_one_chain_that_verifies(tree):
    events = some_events(tree)
    assert [e.position for e in events] == list(range(1, len(events) + 1))
    assert events[0].previous_hash == audit.GENESIS
    assert all(b.previous_hash == a.hash for a, b in itertools.pairwise(events))
    assert AuditChainHead.objects.get().hash == events[-1].hash
    assert f"{len(events)} events" in verify_audit()


def test_record_many_chains_each_event(tree):
    users = [user_with_roles(tree["A00001"], Role.VIEW) for _ in range(2)]
    audit.record_many(actor=None, action="test.many", changes=[(u, None, {"n": 1.5}) for u in users])
    assert "events" in verify_audit()


def test_events_written_by_copy_join_the_chain(tree):
    """Declarations' national-scale transitions write their events with COPY on PostgreSQL (audit.write_many):
    they must take their place in the chain like any other."""
    users = [user_with_roles(tree["A00001"], Role.VIEW) for _ in range(3)]
    written = audit.write_many(
        actor=None,
        action="test.copied",
        changes=[(u, {"state": "a"}, {"state": "b", "n": 2.5}) for u in users],
    )
    assert written == 3
    copied = list(AuditEvent.objects.filter(action="test.copied").order_by("position"))
    assert len(copied) == 3 and copied[-1].hash == AuditChainHead.objects.get().hash
    assert "events" in verify_audit()


def test_a_deleted_event_is_reported(tree):
    events = some_events(tree)
    # SQLite's trigger refuses UPDATE only; on PostgreSQL this is the owner bypassing the trigger.
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        cursor.execute("DELETE FROM accounts_auditevent WHERE position = %s", [events[1].position])
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")
    with pytest.raises(CommandError, match=f"event {events[1].position} is missing"):
        verify_audit()


@pytest.mark.postgres
def test_an_edited_event_is_reported(tree, postgresql):
    events = some_events(tree)
    with connection.cursor() as cursor:
        # The owner of the table bypassing its append-only trigger.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            "UPDATE accounts_auditevent SET after = %s WHERE position = %s",
            ['{"role": "support"}', events[2].position],
        )
        cursor.execute("SET session_replication_role = DEFAULT")
    with pytest.raises(CommandError, match=f"event {events[2].position} .* was changed"):
        verify_audit()


@pytest.mark.postgres
def test_a_truncated_trail_is_reported(tree, postgresql):
    some_events(tree)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as if in a transaction of its own
        cursor.execute("TRUNCATE accounts_auditevent")
    with pytest.raises(CommandError, match="event 1 is missing"):
        verify_audit()
    # Events written after the truncation do not hide it.
    user_with_roles(tree["A00002"], Role.VIEW)
    with pytest.raises(CommandError, match="event 1 is missing"):
        verify_audit()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_web_apps_role_can_only_insert_and_select_audit_events(tree, postgresql):
    user_with_roles(tree["A00001"], Role.VIEW)
    role, password = f"cqrs_web_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        call_command("grant_web_role", role)
        settings = connection.settings_dict
        web = psycopg2.connect(
            dbname=settings["NAME"], host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432,
            user=role, password=password,
        )  # fmt: skip
        web.autocommit = True
        try:
            with web.cursor() as cursor:
                # What audit.record does: lock the head, insert the next event, move the head on.
                cursor.execute("SELECT position, hash FROM accounts_auditchainhead WHERE id = 1 FOR UPDATE")
                position, previous = cursor.fetchone()
                event = AuditEvent(
                    action="test.by_web_role", object_type="", object_id="", object_repr="web role",
                    position=position + 1, previous_hash=previous,
                )  # fmt: skip
                event.hash = audit.event_hash(event)
                cursor.execute(
                    "INSERT INTO accounts_auditevent (occurred_at, action, object_type, object_id,"
                    " object_repr, position, previous_hash, hash) VALUES (%s, %s, '', '', %s, %s, %s, %s)",
                    [
                        event.occurred_at,
                        event.action,
                        event.object_repr,
                        event.position,
                        previous,
                        event.hash,
                    ],
                )
                cursor.execute(
                    "UPDATE accounts_auditchainhead SET position = %s, hash = %s WHERE id = 1",
                    [event.position, event.hash],
                )
                cursor.execute("SELECT count(*) FROM accounts_auditevent")
                assert cursor.fetchone()[0] >= 1
                cursor.execute("SELECT id FROM accounts_user LIMIT 1")  # and the rest of the portal
                for attack in [
                    "UPDATE accounts_auditevent SET action = 'tampered'",
                    "DELETE FROM accounts_auditevent",
                    "TRUNCATE accounts_auditevent",
                    "ALTER TABLE accounts_auditevent DISABLE TRIGGER accounts_auditevent_append_only",
                    "SET session_replication_role = replica",
                    "DELETE FROM accounts_auditchainhead",
                    "TRUNCATE accounts_auditchainhead",
                ]:
                    with pytest.raises(psycopg2.Error):
                        cursor.execute(attack)
        finally:
            web.close()
        assert "events" in verify_audit()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")
