import re
from pathlib import Path

from django.apps import apps
from django.contrib.staticfiles.finders import get_finders

REPO = Path(__file__).resolve().parents[2]


def collected_paths() -> dict[str, int]:
    """What `collectstatic` would collect, with each file's size, as `make serve` runs it."""
    patterns = apps.get_app_config("staticfiles").ignore_patterns
    found = {}
    for finder in get_finders():
        for path, storage in finder.list(patterns):
            prefix = getattr(storage, "prefix", None)
            found.setdefault(f"{prefix}/{path}" if prefix else path, storage.size(path))
    return found


def test_every_static_file_a_template_or_script_names_is_collected():
    named = set()
    for template in (REPO / "templates").rglob("*.html"):
        named |= set(re.findall(r"""\{% static ['"]([^'"]+)['"] %\}""", template.read_text()))
    # The portal's module script imports the frontend by a relative path, which the manifest does not see.
    named.add("nhsuk/nhsuk-frontend.min.js")
    assert named, "no {% static %} found: the pattern above no longer matches the templates"
    assert named <= set(collected_paths()), sorted(named - set(collected_paths()))


def test_the_frontend_package_is_collected_without_its_sources():
    collected = collected_paths()
    frontend = {path: size for path, size in collected.items() if path.startswith(("nhsuk/", "htmx/"))}
    assert not [path for path in frontend if "/components/" in path or path.endswith((".scss", ".mjs"))]
    # 58 MB before the ignore patterns; what is left is the stylesheet, the script, their maps and icons.
    assert sum(frontend.values()) < 5_000_000, sum(frontend.values())
