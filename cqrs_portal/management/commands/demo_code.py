from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import TOTP

from cqrs_portal.demo import DEMO_TOTP_KEY


class Command(BaseCommand):
    help = "Print the demo logins' current security code (from the published demo authenticator key)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("The demo key exists only on a development machine (DEBUG=true).")
        totp = TOTP(bytes.fromhex(DEMO_TOTP_KEY))
        self.stdout.write(f"{totp.token():06d} (changes every 30 seconds)")
