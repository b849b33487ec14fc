from django.urls import path

from . import views

app_name = "participation"

urlpatterns = [
    path("participation/", views.participation_list, name="participation_list"),
    path("participation/offers/", views.offer_list, name="offer_list"),
    path("participation/offers/new/", views.offer_create, name="offer_create"),
    path("participation/offers/<int:pk>/", views.offer_detail, name="offer_detail"),
    path("participation/timetable/", views.timetable, name="timetable"),
    path("services/", views.service_years, name="service_years"),
    path("services/years/<str:year>/", views.service_year, name="service_year"),
    path("services/years/<str:year>/change/", views.service_year_edit, name="service_year_edit"),
    path("services/years/<str:year>/timetable/<str:kind>/", views.milestone_edit, name="milestone_edit"),
    path(
        "services/years/<str:year>/<str:what>/<int:pk>/", views.ruleset_value_edit, name="ruleset_value_edit"
    ),
    path("services/rulesets/upload/", views.ruleset_upload, name="ruleset_upload"),
    path("services/rulesets/<str:year>/", views.ruleset, name="ruleset"),
]
