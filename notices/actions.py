"""Publishing, editing and archiving service notices (Service Management), and a reader dismissing one.
Keyword-only, atomic, audited, guarded."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts import audit
from accounts.permissions import guarded, nationally
from accounts.roles import Permission
from notifications.actions import Recipient, notify

from .models import Dismissal, Notice
from .selectors import notices_read_by, readers_to_email

EDITABLE = ("title", "body", "audience", "service", "urgent", "expires_at")


def _snapshot(notice: Notice) -> dict:
    return {
        "title": notice.title,
        "body": notice.body,
        "audience": notice.audience,
        "service": notice.service.code if notice.service_id else None,
        "urgent": notice.urgent,
        "expires_at": notice.expires_at.isoformat() if notice.expires_at else None,
    }


def _check(values: dict, published_at) -> None:
    expires_at = values.get("expires_at")
    if expires_at is not None and expires_at <= published_at:
        raise ValidationError({"expires_at": "The notice must expire after it is published."})
    if not values.get("title", "").strip() or not values.get("body", "").strip():
        raise ValidationError("A notice needs a title and a message.")


def _email_readers(notice: Notice) -> int:
    """An urgent notice is emailed to everyone it is addressed to, through the notifications outbox."""
    link = reverse("notices:list")
    return notify(
        recipients=[
            Recipient(user_id, organisation_id) for user_id, organisation_id in readers_to_email(notice)
        ],
        subject=f"Urgent service notice: {notice.title}",
        message=f"{notice.body}\n\nThis notice applies to {notice.scope_label}.",
        link=link,
    )


@guarded(nationally(Permission.MANAGE_SERVICES))
@transaction.atomic
def publish_notice(*, values: dict, by) -> Notice:
    now = timezone.now()
    _check(values, now)
    notice = Notice.objects.create(
        **{name: values.get(name) for name in EDITABLE if name in values}, published_at=now, published_by=by
    )
    emailed = _email_readers(notice) if notice.urgent else 0
    audit.record(
        actor=by, action="notices.publish", obj=notice, after={**_snapshot(notice), "emailed": emailed}
    )
    return notice


@guarded(nationally(Permission.MANAGE_SERVICES))
@transaction.atomic
def edit_notice(*, notice: Notice, values: dict, by) -> Notice:
    """Correct a notice in force. Marking it urgent afterwards emails its readers then; an urgent notice is
    never emailed twice (a correction is read on the portal)."""
    current = Notice.objects.select_for_update(of=("self",)).select_related("service").get(pk=notice.pk)
    if not current.in_force:
        raise ValidationError("This notice is no longer in force; publish a new one instead.")
    before = _snapshot(current)
    _check({name: getattr(current, name) for name in EDITABLE} | values, current.published_at)
    newly_urgent = values.get("urgent") and not current.urgent
    for name in EDITABLE:
        if name in values:
            setattr(current, name, values[name])
    current.updated_at = timezone.now()
    current.save()
    emailed = _email_readers(current) if newly_urgent else 0
    audit.record(
        actor=by,
        action="notices.edit",
        obj=current,
        before=before,
        after={**_snapshot(current), "emailed": emailed},
    )
    return current


@guarded(nationally(Permission.MANAGE_SERVICES))
@transaction.atomic
def archive_notice(*, notice: Notice, by) -> Notice:
    current = Notice.objects.select_for_update(of=("self",)).get(pk=notice.pk)
    if current.archived_at is not None:
        raise ValidationError("This notice has already been archived.")
    current.archived_at, current.archived_by = timezone.now(), by
    current.save(update_fields=["archived_at", "archived_by"])
    audit.record(
        actor=by, action="notices.archive", obj=current, before={"archived": False}, after={"archived": True}
    )
    return current


def _reads(by, kwargs) -> bool:
    return notices_read_by(by).filter(pk=kwargs["notice"].pk).exists()


@guarded(_reads)
@transaction.atomic
def dismiss_notice(*, notice: Notice, by) -> bool:
    """Hide a notice's banner for this reader. Audited: a dismissal is the reader's acknowledgement that
    they saw it. Dismissing twice is harmless: False the second time."""
    try:
        with transaction.atomic():
            dismissal = Dismissal.objects.create(notice=notice, user=by)
    except IntegrityError:
        return False
    audit.record(actor=by, action="notices.dismiss", obj=dismissal, after={"notice": notice.pk})
    return True
