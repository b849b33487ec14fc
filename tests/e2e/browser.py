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
