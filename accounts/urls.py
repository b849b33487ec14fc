from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("practices/", views.practice_list, name="practice_list"),
    path("organisations/<str:code>/", views.organisation_detail, name="organisation_detail"),
]
