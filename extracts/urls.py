from django.urls import path

from . import views

app_name = "extracts"

urlpatterns = [
    path("extracts/", views.extract_list, name="extract_list"),
    path("extracts/upload/", views.extract_upload, name="extract_upload"),
    path("extracts/uploads/<int:pk>/", views.upload_detail, name="upload_detail"),
    path("extracts/uploads/<int:pk>/progress/", views.upload_progress, name="upload_progress"),
    path("extracts/<int:pk>/", views.extract_detail, name="extract_detail"),
]
