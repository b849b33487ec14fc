from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.actions import import_organisations
from accounts.organisation_import import OrganisationFileError, read_mapping


class Command(BaseCommand):
    help = "Load NHS Digital's practice → PCN → sub-ICB → ICB → region mapping (QOF_MANUAL_MAPPINGS.csv)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument(
            "--effective-date",
            type=date.fromisoformat,
            default=None,
            help="the day PCN changes in this file take effect (YYYY-MM-DD; default today)",
        )

    def handle(self, *args, file, effective_date, **options):
        try:
            mapping = read_mapping(file)
            summary = import_organisations(
                mapping=mapping, effective_date=effective_date or timezone.localdate(), by=None
            )
        except FileNotFoundError as error:
            raise CommandError(f"{file}: no such file") from error
        except OrganisationFileError as error:
            raise CommandError(
                f"{file} was rejected and nothing was written:\n" + "\n".join(error.problems)
            ) from error
        for warning in mapping.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(
            f"{summary.created} organisations created, {summary.updated} updated, "
            f"{summary.unchanged} unchanged; "
            f"{summary.memberships_started} PCN memberships started, {summary.memberships_ended} ended"
        )
