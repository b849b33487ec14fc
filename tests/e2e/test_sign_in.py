import pytest

from tests.e2e.accessibility import assert_no_serious_accessibility_violations
from tests.e2e.browser import sign_in
from tests.factories import PASSWORD, user_with_roles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_practice_manager_signs_in_and_sees_their_organisation(page, tree):
    user = user_with_roles(tree["A00001"], "participation_management", "declaration_management")
    page.goto("/")
    assert page.url.endswith("/sign-in/?next=/")
    assert_no_serious_accessibility_violations(page)
    page.get_by_label("Email address").fill(user.email.upper())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Your organisations and roles").wait_for()
    assert page.get_by_role("link", name="Practice A00001").is_visible()
    assert page.get_by_text("Declaration Management").is_visible()
    assert_no_serious_accessibility_violations(page)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()


def test_wrong_password_is_refused_with_an_error_summary(page, tree):
    user = user_with_roles(tree["A00001"], "view")
    page.goto("/sign-in/")
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="There is a problem").wait_for()
    assert_no_serious_accessibility_violations(page)


def test_commissioner_browses_its_practices(page, tree):
    user = user_with_roles(tree["01A"], "view")
    sign_in(page, user)
    page.get_by_role("link", name="Practices").click()
    page.get_by_role("heading", name="Practices").wait_for()
    assert page.get_by_role("link", name="A00002").is_visible()
    assert page.get_by_role("link", name="A00003").count() == 0
    assert_no_serious_accessibility_violations(page)


def test_a_commissioner_sets_up_a_security_code_at_first_sign_in(page, tree):
    import base64

    from django_otp.oath import TOTP

    user = user_with_roles(tree["01A"], "approval_management")
    page.goto("/sign-in/")
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Set up a security code for signing in").wait_for()
    assert page.locator("svg.segno").is_visible()
    assert_no_serious_accessibility_violations(page)
    page.get_by_text("I cannot scan the QR code").click()
    secret = page.locator("code").inner_text().replace(" ", "")
    code = TOTP(base64.b32decode(secret)).token()
    page.get_by_label("Security code").fill(f"{code:06d}")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Keep your backup codes safe").wait_for()
    assert page.locator(".portal-backup-codes li").count() == 10
    assert_no_serious_accessibility_violations(page)
    page.get_by_role("link", name="Continue").click()
    page.get_by_role("heading", name="Your organisations and roles").wait_for()


def test_the_content_security_policy_refuses_nothing_the_portal_itself_uses(chromium, live_server, tree):
    """Without the tests' CSP bypass: the portal's own scripts and styles all load under its policy."""
    context = chromium.new_context(base_url=live_server.url)
    try:
        page = context.new_page()
        refused = []
        page.on(
            "console",
            lambda message: refused.append(message.text) if "Content Security" in message.text else None,
        )
        sign_in(page, user_with_roles(tree["01A"], "commissioning_management"))
        page.get_by_role("link", name="Practices").click()
        page.get_by_role("heading", name="Practices").wait_for()
        assert page.evaluate("document.body.classList.contains('js-enabled')")
        assert refused == [], "\n".join(sorted(set(refused)))
    finally:
        context.close()
