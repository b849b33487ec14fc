from accounts.second_factor import needs_second_factor, new_backup_codes
from tests.factories import PASSWORD, enrolled_authenticator


def sign_in(page, user) -> None:
    """Sign in through the form, as a person would, and wait for the home page. Users who need a second
    factor have an authenticator and give one of their backup codes (an app's code works once per 30 s,
    and a test may sign the same person in twice within that)."""
    page.goto("/sign-in/")
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    if needs_second_factor(user):
        enrolled_authenticator(user)
        code = new_backup_codes(user)[0]
    page.get_by_role("button", name="Sign in").click()
    if needs_second_factor(user):
        page.get_by_label("Security code").fill(code)
        page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Your organisations and roles").wait_for()


def follow_menu(page, name: str) -> None:
    """Click a menu item as a person would: on a narrow header the NHS.UK menu moves the items that do not
    fit under "More", so open it first when the item is not shown."""
    if page.get_by_role("link", name=name, exact=True).count() == 0:
        page.locator("#toggle-menu").click()
    page.get_by_role("link", name=name, exact=True).first.click()


PAGE_OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
# The outermost elements that reach past the right edge, to say what made a page scroll.
TOO_WIDE = """() => Array.from(document.querySelectorAll('body *')).filter(
    e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
      && !(e.parentElement && e.parentElement.getBoundingClientRect().right
           > document.documentElement.clientWidth + 1)
    ).slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '').trim().slice(0, 40))"""
# Two frames, for the layout (and the header's menu, which re-measures on resize) to follow a new width.
SETTLED = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"


def sideways_scroll(page, width: int | None = None) -> str | None:
    """None if the loaded page fits its width (`width` set first, if given) without scrolling sideways
    (WCAG 1.4.10 reflow); else how far it scrolls and what reaches past the edge.

    Measured once the layout has followed the width, and again after a moment before it counts: right after
    a resize the header's menu, and some controls (a file input), are still being laid out for the old one.
    """
    if width is not None:
        page.set_viewport_size({"width": width, "height": page.viewport_size["height"]})
    page.evaluate(SETTLED)
    overflow = page.evaluate(PAGE_OVERFLOW)
    if overflow > 0:
        page.wait_for_timeout(500)
        overflow = page.evaluate(PAGE_OVERFLOW)
    if overflow <= 0:
        return None
    return f"scrolls {overflow} px sideways at {page.viewport_size['width']} px: {page.evaluate(TOO_WIDE)}"
