from django.core.management.base import BaseCommand

from cqrs_portal.demo import DEFAULT_ICB, DEMO_PASSWORD, load_demo


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
        self.stdout.write("")
