from django.apps import AppConfig


class DeclarationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "declarations"

    def ready(self):
        # Registers follow_publication with calculation.publication, so that every publication moves the
        # declarations it concerns in its own transaction.
        from . import actions  # noqa: F401
