"""Rendered report fragments kept per publication, so that the thousands of practices and commissioners who
open the same published figures on declaration day do not each pay for building and rendering them.

A published run's results never change: a new publication (a recalculation, a later run, a newer
achievement date) changes the publications' run ids and publication times, which are part of every key, so
nothing is ever invalidated by hand. The template's own text is part of the key too, so a release that
changes it never shows the old layout. Fragments are compressed (a practice's summary is 160 kB of HTML,
under 10 kB compressed) because the cache is Redis, shared with the Celery broker."""

import hashlib
import zlib
from collections.abc import Callable, Iterable
from functools import cache as once

from django.conf import settings
from django.core.cache import cache
from django.template.loader import get_template
from django.utils.safestring import SafeString, mark_safe

from calculation.models import Publication


def publications_key(publications: Iterable[Publication]) -> tuple:
    return tuple((p.pk, p.run_id, p.published_at.isoformat()) for p in publications)


@once
def _template_digest(name: str) -> str:
    return hashlib.sha256(get_template(name).template.source.encode()).hexdigest()[:16]


def cached_fragment(template: str, key: tuple, render: Callable[[], str]) -> SafeString:
    """The fragment `render()` makes with `template`, from the cache when the same `key` (everything the
    fragment depends on besides the template) was rendered within REPORT_CACHE_SECONDS."""
    digest = hashlib.sha256(repr((template, _template_digest(template), key)).encode()).hexdigest()
    name = f"report-fragment:{digest}"
    packed = cache.get(name)
    if packed is not None:
        return mark_safe(zlib.decompress(packed).decode())  # our own rendering, from our own cache
    html = render()
    cache.set(name, zlib.compress(html.encode(), 1), timeout=settings.REPORT_CACHE_SECONDS)
    return mark_safe(html)  # rendered by a template, escaped there
