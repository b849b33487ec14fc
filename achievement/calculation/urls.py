from django.urls import path

from . import views

app_name = "calculation"

urlpatterns = [
    path("calculation/runs/", views.run_list, name="run_list"),
    path("calculation/runs/year-end/", views.start_year_end_run, name="start_year_end_run"),
    path("calculation/runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("calculation/runs/<int:pk>/progress/", views.run_progress, name="run_progress"),
    path("calculation/runs/<int:pk>/retry/", views.retry_run, name="retry_run"),
    path(
        "calculation/practices/<str:code>/recalculate/",
        views.recalculate_practice,
        name="recalculate_practice",
    ),
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
    path("notifications/", views.notifications, name="notifications"),
]
