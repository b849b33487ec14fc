from django.apps import AppConfig


class ManualEntryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "manual_entry"
