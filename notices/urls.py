from django.urls import path

from . import views

app_name = "notices"

urlpatterns = [
    path("notices/", views.notice_list, name="list"),
    path("notices/archive/", views.notice_archive, name="archive"),
    path("notices/new/", views.notice_create, name="create"),
    path("notices/<int:pk>/edit/", views.notice_edit, name="edit"),
    path("notices/<int:pk>/archive/", views.notice_archive_confirm, name="archive_notice"),
    path("notices/<int:pk>/dismiss/", views.notice_dismiss, name="dismiss"),
]
