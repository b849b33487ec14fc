from django.urls import path

from . import views

app_name = "declarations"

urlpatterns = [
    path("declarations/", views.declaration_list, name="list"),
    path("declarations/<int:pk>/", views.detail, name="detail"),
    path("declarations/<int:pk>/declare/", views.declare, name="declare"),
    path("declarations/<int:pk>/approve/", views.approve, name="approve"),
    path("declarations/<int:pk>/financial-approval/", views.financially_approve, name="financially_approve"),
    path("declarations/<int:pk>/reject/", views.reject, name="reject"),
    path("declarations/changes/<int:pk>/", views.revision, name="revision"),
    path("declarations/changes/<int:pk>/confirm/", views.confirm_adjustment, name="confirm_adjustment"),
    path("declarations/freezes/", views.freezes, name="freezes"),
    path("declarations/freezes/<int:pk>/lift/", views.unfreeze, name="unfreeze"),
]
