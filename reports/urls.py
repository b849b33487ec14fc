from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("achievement/practices/<str:code>/", views.practice_summary, name="practice_summary"),
    path("achievement/organisations/<str:code>/practices/", views.provider_report, name="provider_report"),
    path(
        "achievement/organisations/<str:code>/exports/achievement.csv",
        views.publication_export,
        name="publication_export",
    ),
    path(
        "achievement/organisations/<str:code>/exports/achieved-points.csv",
        views.achieved_points_export,
        name="achieved_points_export",
    ),
]
