from django.urls import path

from . import views

app_name = "home"

urlpatterns = [
    path("", views.index, name="index"),
    path("practices/", views.practice_list, name="practice_list"),
    path("calendar/", views.calendar, name="calendar"),
    path("calendar/link/", views.calendar_feed, name="calendar_feed"),
    path("calendar/link/stop/", views.calendar_feed_stop, name="calendar_feed_stop"),
    # Public: a calendar app reads it with no session; the secret in the address is the key.
    path("calendar/<str:token>.ics", views.calendar_ics, name="calendar_ics"),
]
