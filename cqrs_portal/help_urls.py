from django.urls import path

from . import guidance, help

app_name = "help"

urlpatterns = [
    path("help/", help.help_index, name="index"),
    path("help/<slug:topic>/", help.help_topic, name="topic"),
    path("contact/", help.contact, name="contact"),
    path("cookies/", help.cookies, name="cookies"),
    path("guidance/<slug:page>/deadline/", guidance.guidance_deadline, name="guidance_deadline"),
]
