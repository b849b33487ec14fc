"""A user's deadlines as an iCalendar (RFC 5545) document that calendar apps subscribe to."""

from __future__ import annotations

import datetime as dt

import icalendar
from django.conf import settings
from django.utils import timezone

from .deadlines import Deadline

# Calendar apps poll a subscription; deadlines change a few times a day at most.
REFRESH = dt.timedelta(hours=6)
CUTOFF_LENGTH = dt.timedelta(minutes=15)


def _address(path: str) -> str:
    return f"{settings.PORTAL_BASE_URL.rstrip('/')}{path}"


def calendar_of(deadlines: list[Deadline], *, owner_name: str) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("prodid", f"-//NHS England//{settings.SERVICE_NAME}//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"{settings.SERVICE_NAME} deadlines: {owner_name}")
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH)
    stamp = timezone.now()
    host = settings.PORTAL_BASE_URL.split("//", 1)[-1].strip("/") or "cqrs"
    for deadline in deadlines:
        event = icalendar.Event()
        event.add("uid", f"{deadline.uid}@{host}")
        event.add("dtstamp", stamp)
        event.add("summary", deadline.what)
        if deadline.at is not None:
            event.add("dtstart", deadline.at.astimezone(dt.UTC))
            event.add("dtend", (deadline.at + CUTOFF_LENGTH).astimezone(dt.UTC))
        else:
            # All-day: DTEND is the day after the last (RFC 5545 §3.6.1); a window spans its days.
            event.add("dtstart", deadline.starts or deadline.due)
            event.add("dtend", deadline.due + dt.timedelta(days=1))
        link = _address(deadline.href)
        event.add("description", f"{deadline.detail}\n\n{link}".strip())
        event.add("url", link)
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    return calendar.to_ical()
