"""The audit trail: one event per change, chained.

Every event takes the next position in a single chain and stores HMAC-SHA256(key, its contents + the
previous event's hash). Editing an event breaks its own hash; removing one leaves a gap in the positions;
truncating the table leaves the head (accounts.AuditChainHead) ahead of the events; recomputing the chain
after an edit needs AUDIT_CHAIN_KEY, which the database's owner does not have. `manage.py verify_audit`
walks the chain and names the first broken link (docs/adr/0009-security.md).
"""

import hashlib
import hmac
import json
from datetime import UTC

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction

from .bulk import copy_rows
from .models import AuditChainHead, AuditEvent

GENESIS = "0" * 64


def record(
    *, actor, action: str, obj: models.Model | None, before=None, after=None, subject: str = ""
) -> AuditEvent:
    """Write one audit event. Called by every action, inside the action's transaction. `obj` is None only
    for what concerns no row, such as a failed sign-in for an address no account has; `subject` says what."""
    event = _event(actor=actor, action=action, obj=obj, before=before, after=after, subject=subject)
    with transaction.atomic():
        _chain([event])
        event.save()
    return event


def record_many(*, actor, action: str, changes) -> list[AuditEvent]:
    """One event per (obj, before, after) in `changes`, written in one insert for actions on many rows."""
    events = [
        _event(actor=actor, action=action, obj=obj, before=before, after=after)
        for obj, before, after in changes
    ]
    if not events:
        return []
    with transaction.atomic():
        _chain(events)
        return AuditEvent.objects.bulk_create(events, batch_size=2000)


def write_many(*, actor, action: str, changes) -> int:
    """`record_many` for national-scale changes (thousands of rows): the same chained events, written with
    COPY on PostgreSQL; returns how many."""
    events = [
        _event(actor=actor, action=action, obj=obj, before=before, after=after)
        for obj, before, after in changes
    ]
    if not events:
        return 0
    columns = [
        "occurred_at",
        "actor_id",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "before",
        "after",
        "position",
        "previous_hash",
        "hash",
    ]
    with transaction.atomic():
        _chain(events)
        return copy_rows(
            AuditEvent, columns, [tuple(getattr(event, name) for name in columns) for event in events]
        )


def _event(*, actor, action: str, obj: models.Model | None, before, after, subject: str = "") -> AuditEvent:
    return AuditEvent(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=(subject or str(obj))[:200],
        # Stored as JSON reads back: what is hashed is exactly what verify_audit will read.
        before=_as_stored(before),
        after=_as_stored(after),
    )


def _as_stored(value):
    return None if value is None else json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _chain(events: list[AuditEvent]) -> None:
    """Give each event the next position and its hash, holding the head's row lock until the transaction
    ends, so that concurrent writers chain one after another."""
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head = AuditChainHead.objects.create(pk=1)
        head = AuditChainHead.objects.select_for_update().get(pk=1)
    for event in events:
        event.position = head.position + 1
        event.previous_hash = head.hash
        event.hash = event_hash(event)
        head.position, head.hash = event.position, event.hash
    head.save(update_fields=["position", "hash"])


def event_hash(event: AuditEvent) -> str:
    contents = {
        "position": event.position,
        "previous_hash": event.previous_hash,
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat(),
        "actor_id": event.actor_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "before": event.before,
        "after": event.after,
    }
    message = json.dumps(contents, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hmac.new(_key(), message.encode(), hashlib.sha256).hexdigest()


def _key() -> bytes:
    return settings.AUDIT_CHAIN_KEY.encode()


def verify(events, head: AuditChainHead | None) -> tuple[int, str | None]:
    """Walk `events` (in position order) against the chain; (events checked, the first broken link or
    None)."""
    expected_position, expected_previous = 1, GENESIS
    checked = 0
    for event in events:
        if event.position != expected_position:
            return checked, (
                f"event {expected_position} is missing: the next event found is {event.position} "
                "(events were deleted or the table truncated)"
            )
        if event.previous_hash != expected_previous:
            return checked, f"event {event.position} does not follow event {event.position - 1}"
        if not hmac.compare_digest(event_hash(event), event.hash):
            return checked, f"event {event.position} ({event.action}, id {event.pk}) was changed"
        checked += 1
        expected_position, expected_previous = event.position + 1, event.hash
    head_position = head.position if head is not None else 0
    if head_position != expected_position - 1:
        if head_position > expected_position - 1:
            return checked, (
                f"event {expected_position} is missing: the chain's head is at {head_position} "
                "(the newest events were deleted or the table truncated)"
            )
        return checked, f"the chain's head is at {head_position}, behind event {expected_position - 1}"
    if head is not None and head.hash != expected_previous:
        return checked, f"the chain's head does not match event {head_position}"
    return checked, None
