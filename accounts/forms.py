from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm

from .models import User
from .roles import CATALOGUE, roles_held_at


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email address",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True, "class": "nhsuk-input"}),
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "class": "nhsuk-input"}),
    )

    def clean_username(self):
        return self.cleaned_data["username"].strip().lower()


class NHSPasswordResetForm(PasswordResetForm):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "class": "nhsuk-input"}),
    )

    def get_users(self, email):
        # Invited users have no password yet; a reset link is how they recover an expired invitation.
        return User.objects.filter(email__iexact=email.strip(), is_active=True, retired_at__isnull=True)


class RoleChoiceMixin:
    """Offer only the roles the organisation's kind may hold."""

    def limit_roles_to(self, organisation):
        self.fields["role"].choices = [(role.key, role.name) for role in roles_held_at(organisation.type)]


class InviteUserForm(RoleChoiceMixin, forms.Form):
    full_name = forms.CharField(
        label="Full name", max_length=150, widget=forms.TextInput(attrs={"class": "nhsuk-input"})
    )
    email = forms.EmailField(
        label="NHS email address",
        help_text="They will be emailed a link to set their password. The link lasts 14 days.",
        widget=forms.EmailInput(attrs={"class": "nhsuk-input", "autocomplete": "off"}),
    )
    role = forms.ChoiceField(label="First role", widget=forms.Select(attrs={"class": "nhsuk-select"}))

    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.limit_roles_to(organisation)


class GrantRoleForm(RoleChoiceMixin, forms.Form):
    organisation = forms.ModelChoiceField(
        queryset=None, label="Organisation", widget=forms.Select(attrs={"class": "nhsuk-select"})
    )
    role = forms.ChoiceField(label="Role", widget=forms.Select(attrs={"class": "nhsuk-select"}))

    def __init__(self, *args, organisations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = organisations
        self.fields["role"].choices = [(role.key, role.name) for role in CATALOGUE.values()]


class SecondFactorForm(forms.Form):
    code = forms.CharField(
        label="Security code",
        max_length=20,
        widget=forms.TextInput(
            attrs={
                "class": "nhsuk-input nhsuk-input--width-10",
                "autocomplete": "one-time-code",
                "inputmode": "text",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
    )
