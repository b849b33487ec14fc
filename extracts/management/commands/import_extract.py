"""Load a CQRS field-level extract into the portal: every value of it, or nothing."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from extracts.actions import ExtractRejected, load_extract
from participation.models import ServiceYear

# The command line trusts its operator more than a browser upload, but not without bound.
COMMAND_MAX_BYTES = 1024**3


class Command(BaseCommand):
    help = (
        "Validate a CQRS extract (QUALITY_SERVICE,NAME,ORG_CODE,ACH_DATE,…) and store its values, "
        "superseding "
        "older submissions. An invalid file stores nothing and exits with status 1; loading the same file "
        "again changes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="the extract, a CSV file")
        parser.add_argument("--service", help="service year code, e.g. QOF2324 (default: the file's)")

    def handle(self, *args, **options) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        if path.stat().st_size > COMMAND_MAX_BYTES:
            raise CommandError(f"{path} is larger than {COMMAND_MAX_BYTES:,} bytes")
        service_year = None
        if options["service"]:
            service_year = ServiceYear.objects.filter(code=options["service"]).first()
            if service_year is None:
                raise CommandError(f"no service year {options['service']}")
        try:
            result = load_extract(path=path, file_name=path.name, by=None, service_year=service_year)
        except ExtractRejected as error:
            raise CommandError(f"extract rejected, nothing stored:\n{error.describe()}") from error
        extract = result.extract
        if result.already_loaded:
            self.stdout.write(
                f"{path.name} was already loaded on {extract.uploaded_at:%d %B %Y %H:%M} as extract "
                f"{extract.pk} (same SHA-256); nothing changed."
            )
            return
        self.stdout.write(
            f"extract {extract.pk}: {extract.row_count:,} values for {extract.practice_count:,} practices "
            f"and {extract.indicator_count} indicators of {extract.service_year.code} at "
            f"{extract.achievement_date:%d %B %Y}; {extract.superseded_row_count:,} earlier values superseded"
        )
        for warning in extract.warnings:
            self.stdout.write(f"warning: {warning}")
