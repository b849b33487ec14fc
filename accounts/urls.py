from django.urls import path

from . import user_views, views

app_name = "accounts"

urlpatterns = [
    path("organisations/<str:code>/", views.organisation_detail, name="organisation_detail"),
    path("organisations/<str:code>/users/invite/", user_views.invite_user, name="invite_user"),
    path("users/<int:pk>/", user_views.user_detail, name="user_detail"),
    path("users/<int:pk>/roles/", user_views.grant_role, name="grant_role"),
    path("users/<int:pk>/grants/<int:grant_pk>/confirm/", user_views.confirm_grant, name="confirm_grant"),
    path("users/<int:pk>/grants/<int:grant_pk>/refuse/", user_views.refuse_grant, name="refuse_grant"),
    path("users/<int:pk>/roles/<int:membership_pk>/end/", user_views.end_role, name="end_role"),
    path("users/<int:pk>/lock/", user_views.set_locked, {"locked": True}, name="lock_user"),
    path("users/<int:pk>/unlock/", user_views.set_locked, {"locked": False}, name="unlock_user"),
    path("users/<int:pk>/second-factor/reset/", user_views.reset_second_factor, name="reset_second_factor"),
    path("users/<int:pk>/retire/", user_views.retire, name="retire_user"),
]
