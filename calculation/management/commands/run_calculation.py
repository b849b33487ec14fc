"""Start a calculation run from the command line; print its id and, with --wait, its final status."""

import time
from datetime import date

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Organisation, OrganisationType
from calculation import actions, tasks
from calculation.models import CalculationRun
from participation.models import ServiceYear


class Command(BaseCommand):
    help = "Queue a national run (or one practice with --practice) and optionally wait for it to finish."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--service", required=True, help="service year code, e.g. QOF2324")
        parser.add_argument("--achievement-date", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
        parser.add_argument("--practice", help="recalculate this practice only, with the frozen prevalence")
        parser.add_argument("--reason", default="", help="why (required with --practice)")
        parser.add_argument("--wait", action="store_true", help="wait until the run publishes or fails")
        parser.add_argument("--timeout", type=int, default=3600, help="seconds to wait (default 3600)")

    def handle(self, *args, service, achievement_date, practice, reason, wait, timeout, **options) -> None:
        service_year = ServiceYear.objects.filter(code=service).first()
        if service_year is None:
            raise CommandError(f"no service year {service}")
        organisation = None
        if practice:
            organisation = Organisation.objects.filter(code=practice, type=OrganisationType.PRACTICE).first()
            if organisation is None:
                raise CommandError(f"no practice {practice}")
        if organisation is not None:
            reason = reason or "Recalculation from the command line"
        try:
            with transaction.atomic():
                run = actions.start_run(
                    service_year=service_year,
                    achievement_date=achievement_date,
                    organisation=organisation,
                    reason=reason,
                    by=None,
                )
                tasks.queue_run(run)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        self.stdout.write(f"run {run.pk} queued")
        if not wait:
            return
        deadline = time.monotonic() + timeout
        run.refresh_from_db()
        while not run.is_finished and time.monotonic() < deadline:
            time.sleep(0.5)
            run.refresh_from_db()
        self.stdout.write(f"run {run.pk} {run.status}" + (f": {run.error}" if run.error else ""))
        if run.status != CalculationRun.Status.PUBLISHED:
            raise CommandError(f"run {run.pk} did not publish ({run.status})")
