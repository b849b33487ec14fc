from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm


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
        from .models import User

        return User.objects.filter(email__iexact=email.strip(), is_active=True, retired_at__isnull=True)
