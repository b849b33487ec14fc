"""The first pages a person sees: setting a password from an invitation, and signing in."""

from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from tests.factories import PASSWORD, user_with_roles


def test_the_set_password_page_uses_nhs_inputs_and_plain_hints_linked_to_their_fields(client, tree):
    user = user_with_roles(tree["A00001"], "view")
    url = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    page = client.get(url, follow=True)
    html = page.content.decode()
    assert page.status_code == 200 and "Set your password" in html
    assert html.count('class="nhsuk-input"') == 2
    assert "<ul>" not in html.split("<h1>")[1].split("</form>")[0], "Django's raw help list"
    # Each hint is the one its input names in aria-describedby.
    assert 'aria-describedby="id_new_password1_helptext"' in html and 'id="id_new_password1_helptext"' in html
    response = client.post(page.redirect_chain[-1][0], {"new_password1": "short", "new_password2": "other"})
    errors = response.content.decode()
    assert "There is a problem" in errors and 'class="nhsuk-error-message"' in errors


def test_a_wrong_password_is_told_in_plain_words(client, tree):
    user = user_with_roles(tree["A00001"], "view")
    response = client.post(reverse("login"), {"username": user.email, "password": PASSWORD + "x"})
    html = response.content.decode()
    assert "Enter the email address and password for your account" in html
    assert "case-sensitive" not in html
