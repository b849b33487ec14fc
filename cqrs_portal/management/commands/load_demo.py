from django.core.management.base import BaseCommand

from cqrs_portal.demo import DEFAULT_ICB, DEMO_BACKUP_CODES, DEMO_PASSWORD, demo_totp_secret, load_demo


class Command(BaseCommand):
    help = "Load one real ICB, its practices and a demo user for every role (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--icb", default=DEFAULT_ICB, help="ODS code of the ICB to load (default: %(default)s)"
        )

    def handle(self, *args, icb, **options):
        logins = load_demo(icb_code=icb)
        width = max(len(login.email) for login in logins)
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD})\n")
        for login in logins:
            self.stdout.write(f"  {login.email:<{width}}  {login.organisation:<7} {', '.join(login.roles)}")
        self.stdout.write(
            "\nCommissioner and national logins (e.g. commissioner@nhs.net) then ask for a security code.\n"
            f"  Add this key to an authenticator app (time based, 6 digits): {demo_totp_secret()}\n"
            f"  or give a backup code (each works once per login; `make demo` renews them): "
            f"{', '.join(DEMO_BACKUP_CODES)}\n"
            "  or print the code of the moment: DEBUG=true uv run --frozen python manage.py demo_code\n"
        )
