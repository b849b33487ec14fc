from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from participation.actions import load_rulesets
from participation.ruleset_files import RULESETS_DIR, RulesetFileError, read_rulesets


class Command(BaseCommand):
    help = (
        "Create the quality services, service years and indicators shipped in fixtures/rulesets/ that are "
        "missing. Existing rows are kept as they are (a service manager may have corrected them) unless "
        "--update is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--directory", type=Path, default=RULESETS_DIR)
        parser.add_argument(
            "--update",
            action="store_true",
            help="overwrite stored values that differ from the files (each overwrite is audited)",
        )

    def handle(self, *args, directory, update, **options):
        try:
            summary = load_rulesets(rulesets=read_rulesets(directory), update=update, by=None)
        except FileNotFoundError as error:
            raise CommandError(f"{error.filename}: no such file") from error
        except RulesetFileError as error:
            raise CommandError(
                "The rulesets were rejected and nothing was written:\n" + "\n".join(error.problems)
            ) from error
        for row in summary.kept:
            self.stderr.write(f"kept (differs from the files; --update overwrites): {row}")
        self.stdout.write(
            f"{summary.created} rows created, {summary.updated} updated, {summary.unchanged} unchanged, "
            f"{len(summary.kept)} kept as edited"
        )
