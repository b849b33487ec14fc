from django.urls import path

from . import views

app_name = "participation"

urlpatterns = [
    path("participation/", views.participation_list, name="participation_list"),
    path("participation/offers/", views.offer_list, name="offer_list"),
    path("participation/offers/new/", views.offer_create, name="offer_create"),
    path("participation/offers/<int:pk>/", views.offer_detail, name="offer_detail"),
    path("participation/timetable/", views.timetable, name="timetable"),
    path("services/rulesets/upload/", views.ruleset_upload, name="ruleset_upload"),
    path("services/rulesets/<str:year>/", views.ruleset, name="ruleset"),
]
