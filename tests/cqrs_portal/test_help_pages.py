"""The help section, contact and cookies pages, the phase banner, and a truthful accessibility statement."""

from django.urls import reverse

from cqrs_portal.help import TOPICS
from tests.factories import user_with_roles


def test_every_help_topic_opens_for_a_signed_in_user_and_an_unknown_one_is_not_found(client, tree):
    client.force_login(user_with_roles(tree["A00001"], "view"))
    index = client.get(reverse("help:index")).content.decode()
    for slug, (title, _) in TOPICS.items():
        assert reverse("help:topic", kwargs={"topic": slug}) in index
        response = client.get(reverse("help:topic", kwargs={"topic": slug}))
        assert response.status_code == 200 and f"<h1>{title}</h1>" in response.content.decode()
    assert client.get(reverse("help:topic", kwargs={"topic": "nothing"})).status_code == 404


def test_contact_and_cookies_open_before_signing_in_and_every_page_links_them(client, settings):
    settings.SUPPORT_EMAIL = "desk@nhs.net"
    contact = client.get(reverse("help:contact")).content.decode()
    assert "mailto:desk@nhs.net" in contact
    cookies = client.get(reverse("help:cookies")).content.decode()
    assert "sessionid" in cookies and "csrftoken" in cookies
    sign_in = client.get(reverse("login")).content.decode()
    assert reverse("help:cookies") in sign_in and reverse("help:contact") in sign_in and "Beta" in sign_in


def test_the_accessibility_statement_claims_downloads_only_for_what_can_be_downloaded(client):
    statement = client.get(reverse("accessibility")).content.decode()
    assert "Every table can be downloaded" not in statement
    assert "cannot be downloaded yet" in statement and reverse("help:contact") in statement
