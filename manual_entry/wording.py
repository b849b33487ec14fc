"""What each manual indicator asks, in the words of the CQRS guidance, so that a practice user can tell what
they are answering. The ruleset carries only the indicator's group ("Workforce and wellbeing"); the wording
comes from the reference file, with its source, and an indicator without one says so."""

import csv
from functools import cache

from django.conf import settings

WORDING_FILE = settings.BASE_DIR / "fixtures" / "reference" / "manual_indicator_wording.csv"


@cache
def _wording() -> dict[str, str]:
    with WORDING_FILE.open(newline="", encoding="utf-8") as handle:
        return {row["indicator_code"]: row["wording"] for row in csv.DictReader(handle)}


def wording_of(indicator_code: str) -> str:
    return _wording().get(indicator_code, "")
