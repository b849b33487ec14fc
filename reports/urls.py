from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("achievement/practices/<str:code>/", views.practice_summary, name="practice_summary"),
    path("achievement/practices/<str:code>/explain/", views.explain_practice, name="explain_practice"),
    path(
        "achievement/practices/<str:code>/explain/domains/<str:domain>/",
        views.explain_domain,
        name="explain_domain",
    ),
    path(
        "achievement/practices/<str:code>/explain/groups/<str:group>/",
        views.explain_group,
        name="explain_group",
    ),
    path(
        "achievement/practices/<str:code>/explain/indicators/<str:indicator>/",
        views.explain_indicator,
        name="explain_indicator",
    ),
    path("achievement/practices/<str:code>/opportunities/", views.opportunities_page, name="opportunities"),
    path("achievement/practices/<str:code>/forecast/", views.forecast_page, name="forecast"),
    path("achievement/organisations/<str:code>/practices/", views.provider_report, name="provider_report"),
    path(
        "achievement/organisations/<str:code>/opportunities/",
        views.commissioner_opportunities,
        name="commissioner_opportunities",
    ),
    path(
        "achievement/organisations/<str:code>/forecast/",
        views.commissioner_forecast,
        name="commissioner_forecast",
    ),
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
