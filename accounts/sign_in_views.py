"""The password-reset pages, throttled and audited."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.db import transaction
from django.shortcuts import render
from django.utils import formats

from . import audit, throttle
from .client_address import client_address
from .forms import EmailAuthenticationForm, NHSPasswordResetForm, NHSSetPasswordForm
from .models import User
from .sign_in import client_paused_until
from .tokens import invitation_token_generator


class PasswordResetView(auth_views.PasswordResetView):
    form_class = NHSPasswordResetForm
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def form_valid(self, form):
        email = form.cleaned_data["email"].strip().lower()
        # The same answer whether or not the address has an account: the limit is on the address asked about.
        per_client = throttle.Limit("reset-client", settings.PASSWORD_RESET_REQUESTS_PER_HOUR, 60 * 60)
        per_email = throttle.Limit("reset-email", settings.PASSWORD_RESET_EMAILS_PER_HOUR, 60 * 60)
        until = throttle.allow(per_client, client_address(self.request)) or throttle.allow(per_email, email)
        if until is not None:
            form.add_error(
                None,
                "Too many password reset emails have been asked for. Try again after "
                f"{formats.time_format(until, 'H:i')}.",
            )
            return self.form_invalid(form)
        user = User.objects.filter(email__iexact=email).first()
        with transaction.atomic():
            audit.record(
                actor=None,
                action="auth.password_reset_requested",
                obj=user,
                subject=f"password reset for {email}"[:200],
                after={"address": client_address(self.request)},
            )
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = NHSSetPasswordForm

    def form_valid(self, form):
        response = super().form_valid(form)
        with transaction.atomic():
            audit.record(
                actor=self.user,
                action="auth.password_set"
                if self.token_generator is invitation_token_generator
                else "auth.password_reset",
                obj=self.user,
                after={"address": client_address(self.request)},
            )
        return response


class InvitationConfirmView(PasswordResetConfirmView):
    token_generator = invitation_token_generator


class LoginView(auth_views.LoginView):
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        until = client_paused_until(request)
        if until is not None:
            context = {"try_again_at": until, "client": True}
            return render(request, "registration/locked_out.html", context, status=429)
        return super().post(request, *args, **kwargs)
