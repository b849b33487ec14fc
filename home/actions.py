"""A user's own calendar link: made (replacing any before it) and stopped. Keyword-only, atomic, audited,
guarded; each acts only on `by`'s own link."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

from accounts import audit
from accounts.permissions import anyone_signed_in, guarded

from .models import CalendarFeed, token_hash


@guarded(anyone_signed_in)
@transaction.atomic
def issue_calendar_feed(*, by) -> str:
    """A new secret for the user's calendar link; the old link, if any, stops working. Returns the secret,
    which is not stored."""
    # The user's row is the lock: two clicks at once leave one link, not an error.
    get_user_model().objects.select_for_update().filter(pk=by.pk).first()
    replaced = CalendarFeed.objects.filter(user=by).delete()[0] > 0
    token = secrets.token_urlsafe(32)
    feed = CalendarFeed.objects.create(user=by, token_hash=token_hash(token))
    audit.record(actor=by, action="home.issue_calendar_feed", obj=feed, after={"replaced": replaced})
    return token


@guarded(anyone_signed_in)
@transaction.atomic
def revoke_calendar_feed(*, by) -> bool:
    feed = CalendarFeed.objects.select_for_update().filter(user=by).first()
    if feed is None:
        return False
    audit.record(actor=by, action="home.revoke_calendar_feed", obj=feed, before={"active": True})
    feed.delete()
    return True
