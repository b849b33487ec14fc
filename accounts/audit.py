from django.db import models

from .models import AuditEvent


def record(
    *, actor, action: str, obj: models.Model | None, before=None, after=None, subject: str = ""
) -> AuditEvent:
    """Write one audit event. Called by every action, inside the action's transaction. `obj` is None only
    for what concerns no row, such as a failed sign-in for an address no account has; `subject` says what."""
    event = _event(actor=actor, action=action, obj=obj, before=before, after=after, subject=subject)
    event.save()
    return event


def record_many(*, actor, action: str, changes) -> list[AuditEvent]:
    """One event per (obj, before, after) in `changes`, written in one insert for actions on many rows."""
    events = [
        _event(actor=actor, action=action, obj=obj, before=before, after=after)
        for obj, before, after in changes
    ]
    return AuditEvent.objects.bulk_create(events, batch_size=2000)


def _event(*, actor, action: str, obj: models.Model | None, before, after, subject: str = "") -> AuditEvent:
    return AuditEvent(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=(subject or str(obj))[:200],
        before=before,
        after=after,
    )
