"""Setting up and using the second factor at sign-in: enrolment with a QR code, then a code each time."""

from urllib.parse import urlencode

import segno
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp import verify_token

from . import actions, audit
from .forms import SecondFactorForm
from .second_factor import backup_device, confirmed_authenticator, pending_authenticator


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


@login_required
@require_http_methods(["GET", "POST"])
def set_up(request):
    if confirmed_authenticator(request.user) is not None:
        return redirect(f"{reverse('second_factor_verify')}?{urlencode({'next': _next(request)})}")
    device = pending_authenticator(request.user)
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = actions.enrol_second_factor(device=device, token=form.cleaned_data["code"], by=request.user)
        if codes is not None:
            device.refresh_from_db()
            otp_login(request, device)
            return render(
                request, "registration/second_factor_codes.html", {"codes": codes, "next": _next(request)}
            )
        form.add_error("code", "That code is not right. Enter the 6-digit code your app shows now.")
    secret = device.config_url.split("secret=")[1].split("&")[0]
    context = {
        "form": form,
        "qr_code": segno.make(device.config_url, error="m").svg_inline(
            scale=5, title="QR code for your authenticator app"
        ),
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "next": _next(request),
    }
    return render(request, "registration/second_factor_set_up.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def verify(request):
    authenticator = confirmed_authenticator(request.user)
    if authenticator is None:
        return redirect(f"{reverse('second_factor_set_up')}?{urlencode({'next': _next(request)})}")
    form = SecondFactorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"].strip().replace(" ", "").lower()
        devices = [authenticator, backup_device(request.user)]
        device = next(
            (d for d in devices if d is not None and verify_token(request.user, d.persistent_id, code)), None
        )
        with transaction.atomic():
            audit.record(
                actor=request.user,
                action="auth.second_factor_verified" if device else "auth.second_factor_failed",
                obj=request.user,
                after={"with": device.name if device else None},
            )
        if device is not None:
            otp_login(request, device)
            return redirect(_next(request))
        form.add_error(
            "code", "That code is not right. Enter the 6-digit code your app shows now, or a backup code."
        )
    return render(request, "registration/second_factor_verify.html", {"form": form, "next": _next(request)})
