from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm

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

    # Django's wording ("Note that both fields may be case-sensitive") says nothing a person can act on.
    error_messages = {
        "invalid_login": "Enter the email address and password for your account. If you have forgotten your "
        "password, ask for a new link below.",
        "inactive": "This account is locked or retired. Ask your organisation's user administrator.",
    }

    def clean_username(self):
        return self.cleaned_data["username"].strip().lower()


class NHSSetPasswordForm(SetPasswordForm):
    """The page every invited user sees first: NHS.UK inputs, and the password rules as one plain hint
    rather than Django's HTML list."""

    new_password1 = forms.CharField(
        label="New password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "class": "nhsuk-input"}),
    )
    new_password2 = forms.CharField(
        label="Confirm new password",
        strip=False,
        help_text="Type the same password again.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "class": "nhsuk-input"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        rules = " ".join(password_validation.password_validators_help_texts())
        self.fields["new_password1"].help_text = rules


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
    """Give a role at one organisation: only the roles that organisation's kind can hold are offered, and
    none is chosen for the user. Chosen organisation first (`organisation=`), then the role."""

    organisation = forms.ModelChoiceField(
        queryset=None,
        label="Organisation",
        empty_label=None,
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": "Choose an organisation you manage the users of."},
    )
    role = forms.ChoiceField(
        label="Role",
        widget=forms.Select(attrs={"class": "nhsuk-select"}),
        error_messages={"required": "Choose a role.", "invalid_choice": "Choose a role from the list."},
    )

    def __init__(self, *args, organisations, organisation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = organisations
        if organisation is not None:
            self.fields["organisation"].initial = organisation.pk
            self.limit_roles_to(organisation)
            self.fields["role"].help_text = f"The roles a {organisation.get_type_display().lower()} can hold."
        else:
            self.fields["role"].choices = [(role.key, role.name) for role in CATALOGUE.values()]
        self.fields["role"].choices = [("", "Choose a role"), *self.fields["role"].choices]

    def clean(self):
        cleaned = super().clean()
        organisation, role = cleaned.get("organisation"), cleaned.get("role")
        allowed = {r.key for r in roles_held_at(organisation.type)} if organisation is not None else set()
        if organisation is not None and role and role not in allowed:
            self.add_error("role", f"A {organisation.get_type_display().lower()} cannot hold this role.")
        return cleaned


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
