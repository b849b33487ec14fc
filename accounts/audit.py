from django.db import models
from django.utils import timezone

from .bulk import copy_rows
from .models import AuditEvent


def record(*, actor, action: str, obj: models.Model, before=None, after=None) -> AuditEvent:
    """Write one audit event. Called by every action, inside the action's transaction."""
    event = _event(actor=actor, action=action, obj=obj, before=before, after=after)
    event.save()
    return event


def record_many(*, actor, action: str, changes) -> list[AuditEvent]:
    """One event per (obj, before, after) in `changes`, written in one insert for actions on many rows."""
    events = [
        _event(actor=actor, action=action, obj=obj, before=before, after=after)
        for obj, before, after in changes
    ]
    return AuditEvent.objects.bulk_create(events, batch_size=2000)


def write_many(*, actor, action: str, changes) -> int:
    """`record_many` for national-scale changes (thousands of rows): the same events, written with COPY on
    PostgreSQL; returns how many."""
    now = timezone.now()
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    rows = [
        (now, actor_id, action, obj._meta.label_lower, str(obj.pk), str(obj)[:200], before, after)
        for obj, before, after in changes
    ]
    columns = [
        "occurred_at",
        "actor_id",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "before",
        "after",
    ]
    return copy_rows(AuditEvent, columns, rows)


def _event(*, actor, action: str, obj: models.Model, before, after) -> AuditEvent:
    return AuditEvent(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        before=before,
        after=after,
    )
