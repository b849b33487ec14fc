from tests.factories import PASSWORD


def sign_in(page, user) -> None:
    """Sign in through the form, as a person would, and wait for the home page."""
    page.goto("/sign-in/")
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Your organisations and roles").wait_for()
