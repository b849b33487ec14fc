from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import TemplateView

from accounts.forms import EmailAuthenticationForm, NHSPasswordResetForm

admin.site.site_header = "CQRS administration"
admin.site.site_title = "CQRS administration"

urlpatterns = [
    path("", include("home.urls")),
    path(
        "sign-in/",
        auth_views.LoginView.as_view(
            authentication_form=EmailAuthenticationForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("sign-out/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            form_class=NHSPasswordResetForm,
            email_template_name="registration/password_reset_email.txt",
            subject_template_name="registration/password_reset_subject.txt",
        ),
        name="password_reset",
    ),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"
    ),
    path("accessibility/", TemplateView.as_view(template_name="accessibility.html"), name="accessibility"),
    path("", include("accounts.urls")),
    path("", include("notifications.urls")),
    path("", include("participation.urls")),
    path("", include("extracts.urls")),
    path("", include("manual_entry.urls")),
    path("", include("calculation.urls")),
    path("", include("declarations.urls")),
    path("", include("reports.urls")),
    path("admin/", admin.site.urls),
]
