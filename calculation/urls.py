from django.urls import path

from . import views

app_name = "calculation"

urlpatterns = [
    path("calculation/runs/", views.run_list, name="run_list"),
    path("calculation/runs/year-end/", views.start_year_end_run, name="start_year_end_run"),
    path("calculation/runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("calculation/runs/<int:pk>/progress/", views.run_progress, name="run_progress"),
    path("calculation/runs/<int:pk>/retry/", views.retry_run, name="retry_run"),
    path("calculation/runs/<int:pk>/prevalence/", views.prevalence_review, name="prevalence_review"),
    path(
        "calculation/practices/<str:code>/recalculate/",
        views.recalculate_practice,
        name="recalculate_practice",
    ),
    path("calculation/practices/<str:code>/pcn-membership/", views.pcn_membership, name="pcn_membership"),
    path("calculation/pcns/<str:code>/payee/", views.pcn_payee, name="pcn_payee"),
]
