"""Reads of the home app that depend on who is asking."""

from django.http import Http404

from .models import CalendarFeed, token_hash


def calendar_feed_of(user) -> CalendarFeed | None:
    return CalendarFeed.objects.filter(user=user).first()


def calendar_owner(token: str):
    """The active user whose calendar link has this secret, or 404 (a stopped or unknown link)."""
    feed = (
        CalendarFeed.objects.select_related("user")
        .filter(token_hash=token_hash(token), user__is_active=True)
        .first()
    )
    if feed is None:
        raise Http404
    return feed.user
