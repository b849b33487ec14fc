from django.core.management.base import BaseCommand

from cqrs_portal.demo import DEFAULT_ICB, DEMO_BACKUP_CODES, DEMO_PASSWORD, demo_totp_secret, load_demo
from cqrs_portal.demo_jobs import DEMO_JOBS


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
        job_width = max(len(job) for job, _ in DEMO_JOBS)
        self.stdout.write("\nWhich login to try first for each job:\n")
        for job, email in DEMO_JOBS:
            self.stdout.write(f"  {job:<{job_width}}  {email}")
        practice, commissioner, finance = logins[0], logins[1], logins[2]
        self.stdout.write(
            "\nThe declaration journey (QOF 2023/24, declarations in every state):\n"
            f"  1. {practice.email} declares practice {practice.organisation} from the home page;\n"
            f"  2. {commissioner.email} (or role.approval@nhs.net) approves it;\n"
            f"  3. {finance.email} (or role.finance@nhs.net) approves it financially.\n"
            "  support@nhs.net and service.manager@nhs.net freeze declarations at /declarations/freezes/."
        )
        self.stdout.write(
            "\nCommissioner and national logins (e.g. commissioner@nhs.net) then ask for a security code.\n"
            f"  Add this key to an authenticator app (time based, 6 digits): {demo_totp_secret()}\n"
            f"  or give a backup code (each works once per login; `make demo` renews them): "
            f"{', '.join(DEMO_BACKUP_CODES)}\n"
            "  or print the code of the moment: DEBUG=true uv run --frozen python manage.py demo_code\n"
        )
