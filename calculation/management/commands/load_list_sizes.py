"""Load practice list sizes for a service year from PRACTICE_CODE,LIST_SIZE_CPI,LIST_SIZE_PREVALENCE."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from calculation.actions import load_list_sizes
from engine import InputError, readers
from participation.models import ServiceYear


class Command(BaseCommand):
    help = (
        "Store each practice's list size at 1 January before the service year (for CPI) and at its end "
        "(for prevalence), from a CSV like the engine's practices.csv. Unknown practices reject the file."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--service", required=True, help="service year code, e.g. QOF2324")

    def handle(self, *args, path: Path, service: str, **options) -> None:
        service_year = ServiceYear.objects.filter(code=service).first()
        if service_year is None:
            raise CommandError(f"no service year {service}")
        try:
            practices = readers.load_practices(path)
        except InputError as error:
            raise CommandError(error.describe()) from error
        rows = list(
            zip(
                practices["practice_code"].astype(str),
                practices["list_size_cpi"].astype(int),
                practices["list_size_prevalence"].astype(int),
                strict=True,
            )
        )
        try:
            count = load_list_sizes(service_year=service_year, rows=rows, by=None)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        self.stdout.write(f"loaded list sizes for {count} practices into {service_year.code}")
