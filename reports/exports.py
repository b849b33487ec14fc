"""Streamed CSV exports of a published run (DOMAIN.md §6), scoped to an organisation.

Rows come from the database with a server-side cursor in chunks and are formatted a chunk at a time with the
engine's own publication layout (`engine.outputs`), so memory stays flat at national scale.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from accounts.exports import neutralise
from calculation.models import Publication
from declarations.models import Declaration
from engine import outputs
from participation.selectors import engine_ruleset
from payments.selectors import payment_state, payment_states

FETCH_ROWS = 20_000
PUBLICATION_HEADER = "PRACTICE_CODE,INDICATOR_CODE,MEASURE,VALUE"
ACHIEVED_POINTS_HEADER = (
    "QUALITY_SERVICE,ORG_CODE,ACH_DATE,IND_CODE,POINTS,APPROVED,PAYMENT_STATUS,EXPECTED_PAYMENT_DATE"
)
CRLF = outputs.LINE_TERMINATOR
_STATE = Declaration.State
COMMISSIONER_APPROVED = (_STATE.AWAITING_FINANCE, _STATE.APPROVED, _STATE.SENT)
COUNTS = ["register", "numerator", "denominator", "pcas"]


def _chunks(rows, size: int = FETCH_ROWS) -> Iterator[list]:
    chunk = []
    for row in rows.iterator(chunk_size=size):
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def publication_lines(rows, publication: Publication) -> Iterator[str]:
    """PRACTICE_CODE,INDICATOR_CODE,MEASURE,VALUE: the NHS Digital publication's long format."""
    ruleset = engine_ruleset(publication.service_year)
    kinds = dict(zip(ruleset["indicator_code"], ruleset["kind"], strict=True))
    yield PUBLICATION_HEADER + CRLF
    columns = ["practice__code", "indicator_code", *COUNTS, "points"]
    for chunk in _chunks(rows.values_list(*columns)):
        frame = pd.DataFrame.from_records(
            chunk, columns=["practice_code", "indicator_code", *COUNTS, "points"]
        )
        frame = frame[frame["indicator_code"].isin(kinds)]
        for column in ("practice_code", "indicator_code"):
            frame[column] = frame[column].map(neutralise)
        for column in COUNTS:
            frame[column] = frame[column].astype("Int64")
        frame["kind"] = frame["indicator_code"].map(kinds)
        frame["points_hundredths"] = np.array(
            [int(points * 100) for points in frame["points"]], dtype=np.int64
        )
        table = outputs.achievement_table(frame, ruleset)
        yield outputs.to_csv_text(table).split(CRLF, 1)[1]


def achieved_points_lines(rows, publication: Publication) -> Iterator[str]:
    """QUALITY_SERVICE,ORG_CODE,ACH_DATE,IND_CODE,POINTS,APPROVED: the CQRS achieved-points extract, then
    PAYMENT_STATUS,EXPECTED_PAYMENT_DATE (ours: where the practice's payment for this achievement stands).

    APPROVED is Y once the figures are approved for payment: the commissioner approved the practice's
    declaration of them (awaiting financial approval, approved or sent for payment), or, in a year that needs
    no declaration, commissioner finance approved the year end. N before that and after a recalculation sends
    the declaration back. PAYMENT_STATUS is one of NOT_APPROVED, AWAITING_FINANCIAL_APPROVAL (an adjustment),
    REJECTED, ON_HOLD, APPROVED, SENT_TO_SSD, PAID, NOTHING_TO_PAY, or NOT_PAID_ON_THIS_DATE for an in-year
    date; EXPECTED_PAYMENT_DATE (YYYYMMDD) is the date paid or expected, blank while not approved.
    """
    year = publication.service_year
    prefix = year.code
    date = f"{publication.achievement_date:%Y%m%d}"
    year_end = publication.achievement_date == year.end_date
    approved = set(
        Declaration.objects.filter(
            service_year=year, achievement_date=publication.achievement_date, state__in=COMMISSIONER_APPROVED
        ).values_list("practice_id", flat=True)
    )
    states = payment_states(year, publication.achievement_date)
    if year_end:
        approved |= {
            practice for practice, state in states.items() if state.code != "AWAITING_FINANCIAL_APPROVAL"
        }
    tails: dict[int, str] = {}  # per practice: ",APPROVED,PAYMENT_STATUS,EXPECTED_PAYMENT_DATE\r\n"

    def tail(practice: int) -> str:
        if practice not in tails:
            state = payment_state(states, practice, year_end)
            on = f"{state.on:%Y%m%d}" if state.on else ""
            tails[practice] = f",{'Y' if practice in approved else 'N'},{state.code},{on}{CRLF}"
        return tails[practice]

    yield ACHIEVED_POINTS_HEADER + CRLF
    for chunk in _chunks(rows.values_list("practice_id", "practice__code", "indicator_code", "points")):
        yield "".join(
            f"{prefix},{neutralise(code)},{date},{neutralise(indicator)},{points:.2f}{tail(practice)}"
            for practice, code, indicator, points in chunk
        )
