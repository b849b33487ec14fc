from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "payments"

    def ready(self):
        # Registers the publication hook that turns a recalculated year end into adjustment lines.
        from . import actions  # noqa: F401
