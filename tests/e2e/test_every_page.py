"""Every page the URL walk knows, opened in a browser as every role it walks as, at a laptop's 1280 px and a
phone's 390 px: no page scrolls sideways at 390 px (WCAG 1.4.10 reflow), no table is wider than its box at
1280 px unless it sits in a region made to scroll, and axe-core finds no serious or critical violation.
Every download a role meets (a route of the walk that answers a file, or a page's "Download" links) is
opened as a spreadsheet would open it: CSV with its byte-order mark through the csv module, XLSX through
openpyxl.

The pages come from `tests.walk_routes`, so a new route is walked here as soon as the URL walk knows it.
A route that takes an organisation is opened once for each kind of organisation the role can reach (the
role's own first), as a practice's page and a region's are different pages; other routes at every target
(each help topic, each declaration state). A page whose menu and content are the same as one already
checked (the same help page for two roles, say) is not measured twice: only what differs can fail
differently. One world, one browser context per role, signed in once.
"""

import csv
import io
import time
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest
from django.conf import settings
from django.test import Client
from openpyxl import load_workbook

from accounts.roles import CATALOGUE
from tests.downloads import BOM
from tests.e2e.accessibility import assert_no_serious_accessibility_violations
from tests.e2e.browser import sideways_scroll
from tests.scopes import HOLDER
from tests.walk_routes import OK, ROUTES, Walker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 390)
ROLE_AT_HOLDER = [(role.key, holder) for role in CATALOGUE.values() for holder in sorted(role.holders)]
# Tables reaching past the page's main region, outside a region made to scroll (.portal-table-scroll). The
# NHS.UK responsive table is 4 px wider than its box by design (its cells' borders).
TABLE_OVERFLOW = """() => Array.from(document.querySelectorAll('main table'))
    .filter(t => !t.closest('.portal-table-scroll'))
    .map(t => [t, t.getBoundingClientRect()])
    .map(([t, box]) => [t.querySelector('caption')?.textContent.trim() || t.className,
                        Math.round(Math.max(box.right, box.left + t.scrollWidth)
                                   - t.closest('main').getBoundingClientRect().right)])
    .filter(([name, over]) => over > 4)"""
# The page's stylesheets and their rules: without both loaded a layout measure means nothing.
STYLESHEETS = "() => Array.from(document.styleSheets).map(sheet => [sheet.href, sheet.cssRules.length])"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def walkers(world) -> list[Walker]:
    from tests.factories import user_with_roles

    found = []
    for role, holder in ROLE_AT_HOLDER:
        organisation = world.tree[HOLDER[holder][0]]
        found.append(Walker(role, organisation, user_with_roles(organisation, role)))
    return found


def pages_for(world, walker: Walker) -> list[tuple[str, str]]:
    """(route name, URL) of every page the walk says this role may open: one per kind of organisation for
    routes that take one, the role's own organisation first."""
    chosen = {}
    for route in ROUTES:
        for index, target in enumerate(route.targets(world)):
            if route.get(walker, target) != OK:
                continue
            organisation = target.organisation
            key = (route.name, organisation.type if organisation is not None else index)
            if key not in chosen or (organisation is not None and organisation.pk == walker.holder.pk):
                chosen[key] = (route.name, target.url)
    return list(chosen.values())


class Skeleton(HTMLParser):
    """A page's shape, as its layout and accessibility depend on it: the elements with their classes, roles
    and types, and how long each text's longest word is (a long unbroken word is what pushes a narrow page
    sideways), but not the words themselves; a run of siblings of the same shape counts once (a table of
    three rows and one of thirty are laid out alike). The account line (the user's name) and the form token
    are left out. Also collects the page's links to files."""

    def __init__(self):
        super().__init__()
        self.stack = [["root", []]]
        self.downloads = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.skipping:
            self.skipping += tag not in VOID
            return
        # The header's menu is the same on all of a role's pages: measured on the role's first page.
        classes = attrs.get("class") or ""
        left_out = "nhsuk-header__account" in classes or "nhsuk-header__navigation" in classes
        if left_out or attrs.get("name") == "csrfmiddlewaretoken":
            self.skipping = tag not in VOID
            return
        href = attrs.get("href") or ""
        if tag == "a" and ("download" in attrs or "_export=" in href or "format=" in href):
            self.downloads.append(href)
        label = " ".join(
            [tag, attrs.get("class") or "", attrs.get("role") or "", attrs.get("type") or ""]
            + [name for name in attrs if name.startswith("aria-") or name == "hidden"]
        )
        node = [label, []]
        self.stack[-1][1].append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and not self.skipping:
            self.stack.pop()

    def handle_endtag(self, tag):
        if self.skipping:
            self.skipping -= tag not in VOID
            return
        if tag not in VOID and len(self.stack) > 1 and self.stack[-1][0].split(" ", 1)[0] == tag:
            self.stack.pop()

    def handle_data(self, data):
        words = data.split()
        if words and not self.skipping:
            self.stack[-1][1].append(f"#{max(len(word) for word in words) // 8}")

    def shape(self) -> str:
        def render(node) -> str:
            if isinstance(node, str):
                return node
            children = []
            for child in node[1]:
                text = render(child)
                if not children or children[-1] != text:
                    children.append(text)
            return f"<{node[0]}>{''.join(children)}</>"

        return render(self.stack[0])


def open_download(response, where: str) -> list[str]:
    """Open a download as a spreadsheet would: its defects (empty: none)."""
    try:
        check_download(response, where)
    except AssertionError as defect:
        return [str(defect)]
    return []


def check_download(response, where: str) -> None:
    assert response.status_code == 200, f"{where} answered {response.status_code}"
    kind = response["Content-Type"]
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if kind.startswith("text/csv"):
        # The files of a fixed layout for another system (the NHS Digital publication, the payment agency's
        # file) carry no byte-order mark, which their readers would take as data; they are ASCII only, so
        # Excel reads them right without one.
        if not body.startswith(BOM):
            assert body.isascii(), f"{where}: a CSV without a byte-order mark shows £ as Â£ in Excel"
        rows = list(csv.reader(io.StringIO(body.removeprefix(BOM).decode("utf-8"))))
    elif kind.startswith("application/vnd.openxmlformats"):
        sheet = load_workbook(io.BytesIO(body)).active
        rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    else:
        raise AssertionError(f"{where} is neither a page nor a spreadsheet: {kind}")
    assert rows and all(rows[0]), f"{where}: no header row, or an empty heading: {rows[:1]}"
    markup = [c for row in rows for c in row if isinstance(c, str) and "<" in c and ">" in c]
    assert not markup, f"{where}: markup in cells: {markup[:3]}"


def check_page(page, where: str) -> list[str]:
    """The loaded page's defects at each width (empty: none)."""
    defects = []
    for width in WIDTHS:
        scrolls = sideways_scroll(page, width)
        if scrolls:
            defects.append(f"{where} {scrolls}")
        if width == 1280:
            wide = page.evaluate(TABLE_OVERFLOW)
            if wide:
                defects.append(f"{where}: tables wider than their box at 1280 px: {wide}")
        try:
            assert_no_serious_accessibility_violations(page)
        except AssertionError as violation:
            defects.append(f"{where} at {width} px: {violation}")
    return defects


def signed_in(chromium, live_server, user) -> tuple[Client, object]:
    """The role's test client and a browser context sharing its session. Signing in through the form is
    tests/e2e/test_sign_in's subject; here the session is made as the test client makes one (second factor
    included) and handed to the browser."""
    client = Client()
    client.force_login(user)
    context = chromium.new_context(base_url=live_server.url, bypass_csp=True)
    context.set_default_timeout(15_000)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    return client, context


@pytest.mark.long
def test_every_page_as_every_role_fits_both_widths_and_passes_axe(chromium, live_server, world):
    started = time.monotonic()
    shapes, defects = set(), []
    visited = checked = opened = 0
    routes, fragments = set(), set()
    spent = {"client": 0.0, "goto": 0.0, "checks": 0.0}
    for walker in walkers(world):
        client, context = signed_in(chromium, live_server, walker.user)
        page, who, files = None, f"{walker.role} at {walker.holder.code}", set()
        for name, url in pages_for(world, walker):
            where = f"{url} as {who}"
            tick = time.monotonic()
            response = client.get(url)
            spent["client"] += time.monotonic() - tick
            visited += 1
            if not response["Content-Type"].startswith("text/html"):
                defects += open_download(response, where)
                opened += 1
                continue
            assert response.status_code == 200, f"{where} answered {response.status_code}"
            html = response.content.decode()
            if "<main" not in html:
                # A part of a page that htmx fetches into it (a deadline, a run's progress): measured there.
                fragments.add(name)
                continue
            skeleton = Skeleton()
            skeleton.feed(html)
            for link in skeleton.downloads:
                target = urljoin(url, unescape(link))
                if target not in files:
                    files.add(target)
                    defects += open_download(client.get(target), f"{target} as {who}")
                    opened += 1
            shape = (name, skeleton.shape())
            if shape in shapes and page is not None:
                continue
            shapes.add(shape)
            tick = time.monotonic()
            if page is None:
                page = context.new_page()
            page.set_viewport_size({"width": WIDTHS[0], "height": 900})
            assert page.goto(url).ok, where
            sheets = page.evaluate(STYLESHEETS)
            assert len(sheets) == 2 and all(rules for _, rules in sheets), f"{where}: unstyled: {sheets}"
            checked += 1
            routes.add(name)
            spent["goto"] += time.monotonic() - tick
            tick = time.monotonic()
            defects += check_page(page, where)
            spent["checks"] += time.monotonic() - tick
        context.close()
    elapsed = time.monotonic() - started
    print(
        f"\n{len(ROLE_AT_HOLDER)} roles; {visited} pages and downloads fetched, {opened} downloads opened; "
        f"{checked} distinct pages ({len(routes)} routes) × {len(WIDTHS)} widths in the browser; "
        f"{len(fragments)} routes answer page fragments; {elapsed:.0f} s "
        f"(test client {spent['client']:.0f} s, opening {spent['goto']:.0f} s, "
        f"measures and axe {spent['checks']:.0f} s)"
    )
    assert not defects, "\n".join(defects)
