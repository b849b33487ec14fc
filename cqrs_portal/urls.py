from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import TemplateView

from accounts import second_factor_views, sign_in_views
from cqrs_portal.demo_jobs import DEMO_JOBS

admin.site.site_header = "CQRS administration"
admin.site.site_title = "CQRS administration"


def sign_in(request, *args, **kwargs):
    """The sign-in page, with the demo's login table on a development machine only (DEBUG, read per
    request)."""
    context = {"demo_jobs": DEMO_JOBS if settings.DEBUG else None}
    return sign_in_views.LoginView.as_view(extra_context=context)(request, *args, **kwargs)


urlpatterns = [
    path("", include("home.urls")),
    path("sign-in/", sign_in, name="login"),
    path("sign-in/second-factor/", second_factor_views.verify, name="second_factor_verify"),
    path("sign-in/set-up-second-factor/", second_factor_views.set_up, name="second_factor_set_up"),
    path("sign-out/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", sign_in_views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        sign_in_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "invitation/<uidb64>/<token>/",
        sign_in_views.InvitationConfirmView.as_view(),
        name="invitation_confirm",
    ),
    path(
        "password-reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"
    ),
    path("accessibility/", TemplateView.as_view(template_name="accessibility.html"), name="accessibility"),
    path("", include("cqrs_portal.help_urls")),
    path("", include("accounts.urls")),
    path("", include("notifications.urls")),
    path("", include("participation.urls")),
    path("", include("extracts.urls")),
    path("", include("manual_entry.urls")),
    path("", include("notices.urls")),
    path("", include("calculation.urls")),
    path("", include("declarations.urls")),
    path("", include("payments.urls")),
    path("", include("reports.urls")),
    path("admin/", admin.site.urls),
]
