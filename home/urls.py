from django.urls import path

from . import views

app_name = "home"

urlpatterns = [
    path("", views.index, name="index"),
    path("practices/", views.practice_list, name="practice_list"),
]
