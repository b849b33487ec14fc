from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from cqrs_portal.demo import DEMO_CALCULATION_YEAR, demo_run_date, watchable_run
from participation.models import ServiceYear


class Command(BaseCommand):
    help = (
        "Start a calculation run of the demo year and take it through its stages slowly, so that its "
        "progress bar can be watched moving (run beside `make demo`; `make demo-run`)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--pause", type=float, default=4.0, help="Seconds between stages (%(default)s)")

    def handle(self, *args, pause, **options):
        year = ServiceYear.objects.filter(code=DEMO_CALCULATION_YEAR).first()
        achievement_date = demo_run_date(year) if year is not None else None
        if achievement_date is None:
            raise CommandError("No demo data to calculate: run `make demo` (manage.py load_demo) first.")

        def step(run):
            if run.stage == run.Stage.WAITING:
                url = reverse("calculation:run_detail", kwargs={"pk": run.pk})
                self.stdout.write(f"Run {run.pk} started: watch it at {url} (signed in as support@nhs.net).")
            self.stdout.write(
                f"  {run.get_status_display()}: {run.get_stage_display()}, "
                f"{run.progress_done} of {run.progress_total} commissioners ({run.percent_done}%)"
            )

        watchable_run(year, achievement_date, pause=pause, step=step)
