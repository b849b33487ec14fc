from django.urls import path

from . import views

app_name = "manual_entry"

urlpatterns = [
    path("practices/<str:code>/manual-entry/", views.manual_entry_years, name="manual_entry_years"),
    path("practices/<str:code>/manual-entry/<str:year>/", views.manual_entry, name="manual_entry"),
    path(
        "service-years/<str:year>/manual-answers/set-missing-to-yes/",
        views.set_missing_answers,
        name="set_missing_answers",
    ),
]
