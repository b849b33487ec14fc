"""The payment agency's files: the batch file we send, and the acknowledgement it sends back."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError

HEADER = (
    "BATCH_REFERENCE",
    "LINE_REFERENCE",
    "PAYEE_ODS_CODE",
    "COMMISSIONER_ODS_CODE",
    "SERVICE_YEAR",
    "ACHIEVEMENT_DATE",
    "COMPONENT",
    "AMOUNT_GBP",
    "PAYMENT_DATE",
)
ACKNOWLEDGEMENT_HEADER = ("LINE_REFERENCE", "STATUS", "REASON")
PAID, REJECTED = "PAID", "REJECTED"


def agency_csv(batch_reference: str, payment_date, rows) -> tuple[str, int, Decimal]:
    """The batch file: one row per line, then `TRAILER,<batch>,<count>,<sum>` so the agency can check it.

    rows: (line reference, payee code, commissioner code, service year code, achievement date, component,
    amount) in the order to write. Returns (text, line count, total). CRLF line ends, as RFC 4180 says.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    count, total = 0, Decimal("0.00")
    paid_on = payment_date.isoformat()
    for reference, payee, commissioner, year, achievement_date, component, amount in rows:
        writer.writerow(
            [
                batch_reference,
                reference,
                payee,
                commissioner,
                year,
                achievement_date.isoformat(),
                component,
                f"{amount:.2f}",
                paid_on,
            ]
        )
        count += 1
        total += amount
    writer.writerow(["TRAILER", batch_reference, count, f"{total:.2f}"])
    return buffer.getvalue(), count, total


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Acknowledged:
    line_number: int
    reference: str
    status: str
    reason: str


def parse_acknowledgement(text: str) -> list[Acknowledged]:
    """Rows of an acknowledgement file, or ValidationError naming the first bad line: a file is taken as a
    whole or not at all."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None or tuple(cell.strip().upper() for cell in header) != ACKNOWLEDGEMENT_HEADER:
        raise ValidationError(f"Line 1: the header must be {','.join(ACKNOWLEDGEMENT_HEADER)}")
    rows, seen = [], {}
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) not in (2, 3):
            raise ValidationError(f"Line {number}: expected 3 fields, found {len(cells)}")
        reference, status = cells[0].strip(), cells[1].strip().upper()
        reason = cells[2].strip() if len(cells) == 3 else ""
        if status not in (PAID, REJECTED):
            raise ValidationError(f"Line {number}: STATUS must be PAID or REJECTED, not {cells[1]!r}")
        if status == REJECTED and not reason:
            raise ValidationError(f"Line {number}: a rejected line needs a REASON")
        if reference in seen:
            raise ValidationError(f"Line {number}: {reference} is already on line {seen[reference]}")
        seen[reference] = number
        rows.append(Acknowledged(number, reference, status, reason))
    return rows
