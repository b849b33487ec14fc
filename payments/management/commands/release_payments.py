"""Release the payments due at a cut-off from a shell, as the beat does at each cut-off."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from payments import actions


class Command(BaseCommand):
    help = (
        "Release every approved payment line not yet released into the batch of a cut-off (by default now, "
        "as finance's Release button does), print the batch reference, line count and total, and with --out "
        "write the batch's agency file. Releasing the same cut-off twice adds nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--cutoff", help="ISO date-time, e.g. 2024-04-08T12:00 (UK time)")
        parser.add_argument("--out", type=Path, help="write the batch's agency CSV here")

    def handle(self, *args, **options) -> None:
        cutoff = self._cutoff(options["cutoff"])
        batch, created = actions.release(cutoff=cutoff, by=None)
        self.stdout.write(
            f"{batch.reference} {batch.line_count} lines £{batch.total:.2f} payment date {batch.payment_date}"
            + ("" if created else " (already released: nothing added)")
        )
        if options["out"]:
            # Bytes exactly as stored, so the file matches the SHA-256 kept with the batch.
            options["out"].write_bytes(batch.agency_file.content.encode("utf-8"))
            self.stdout.write(f"Wrote {options['out']} sha256 {batch.agency_file.sha256}")

    def _cutoff(self, text: str | None) -> dt.datetime:
        if not text:
            # Now, as the finance page's Release button: what an operator at a shell means by "release".
            # The latest scheduled cut-off would take nothing approved since it, and returns its batch again.
            return timezone.now()
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError as error:
            raise CommandError(f"--cutoff {text!r} is not an ISO date-time: {error}") from error
        return value if timezone.is_aware(value) else timezone.make_aware(value)
