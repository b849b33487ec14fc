"""Template source a person would only see when it goes wrong: Django's `{# … #}` comment ends at the end of
its line, so one spread over several lines is printed on the page, as four shared templates once printed
theirs on every form and table."""

import re
from pathlib import Path

from django.conf import settings

OPENED_COMMENT = re.compile(r"\{#(?:(?!#\}).)*$", re.MULTILINE)


def project_templates() -> list[Path]:
    roots = [Path(directory) for engine in settings.TEMPLATES for directory in engine["DIRS"]]
    roots += [path for path in Path(settings.BASE_DIR).glob("*/templates") if ".venv" not in path.parts]
    return sorted({path for root in roots for path in root.rglob("*") if path.suffix in {".html", ".txt"}})


def test_no_template_comment_runs_past_its_line():
    templates = project_templates()
    assert len(templates) > 50, templates
    unclosed = [
        f"{path.relative_to(settings.BASE_DIR)}:{text[: match.start()].count(chr(10)) + 1}"
        for path in templates
        for text in [path.read_text(encoding="utf-8")]
        for match in OPENED_COMMENT.finditer(text)
    ]
    assert not unclosed, "use {% comment %} for a comment of several lines: " + ", ".join(unclosed)


def test_the_check_finds_a_comment_of_two_lines():
    assert OPENED_COMMENT.search("<p>\n{# one line\n   and another #}\n")
    assert not OPENED_COMMENT.search("<p>{# one line #}</p>\n{% comment %}\n two\n{% endcomment %}")
