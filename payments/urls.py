from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("payments/practices/<str:code>/statement/", views.statement, name="statement"),
    path("payments/practices/<str:code>/write-off/", views.write_off, name="write_off"),
    path("payments/practices/<str:code>/aspiration/", views.aspiration, name="aspiration"),
    path("payments/organisations/<str:code>/", views.commissioner, name="commissioner"),
    path("payments/organisations/<str:code>/approve/", views.approve, name="approve"),
    path("payments/release/", views.release, name="release"),
    path("payments/acknowledgements/", views.acknowledgement, name="acknowledgement"),
    path("payments/batches/<str:reference>/agency.csv", views.agency_file, name="agency_file"),
]
