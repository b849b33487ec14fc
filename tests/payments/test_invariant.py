"""For random years of aspiration, year ends, recalculations, approvals, write-offs, releases and
acknowledgements, every practice's ledger adds up to its latest achievement payment to the penny, and every
line reaches the agency at most once."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from payments import actions, selectors
from payments.models import AgencyFile, AspirationAmount, PaymentLine
from tests.factories import build_organisation_tree
from tests.payments.helpers import aware, publish_year_end, years

L = PaymentLine
CODES = ("A00001", "A00002", "A00003", "B00001")
pence = st.integers(min_value=0, max_value=30_000_000).map(lambda p: Decimal(p) / 100)
step = st.one_of(
    st.tuples(st.just("recalculate"), st.lists(pence, min_size=4, max_size=4)),
    st.tuples(st.just("approve"), st.just(None)),
    st.tuples(st.just("write_off"), st.just(None)),
    st.tuples(st.just("release"), st.just(None)),
    st.tuples(st.just("acknowledge"), st.booleans()),
)


class LedgerInvariant(TestCase):
    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        last_year=st.lists(pence, min_size=4, max_size=4),
        aspiration=st.lists(pence, min_size=4, max_size=4),
        this_year=st.lists(pence, min_size=4, max_size=4),
        steps=st.lists(step, max_size=6),
        # Per practice: an amount set by hand before the instalments (provisional or agreed), and whether
        # it is then replaced (by the calculated amount, or a newly agreed one) after some were released.
        set_by_hand=st.lists(st.one_of(st.none(), pence), min_size=4, max_size=4),
        replaced=st.lists(st.one_of(st.none(), st.just("calculated"), pence), min_size=4, max_size=4),
    )
    def test_aspiration_plus_balance_plus_adjustments_is_the_latest_payment(
        self, last_year, aspiration, this_year, steps, set_by_hand, replaced
    ):
        tree = build_organisation_tree()
        practices = [tree[code] for code in CODES]
        first, second = years()
        for practice, annual in zip(practices, set_by_hand, strict=True):
            if annual is not None:
                actions.set_aspiration_amount(
                    practice=practice, service_year=second, kind=AspirationAmount.Kind.PROVISIONAL,
                    annual=annual, reason="Set by hand", by=None,
                )  # fmt: skip
        publish_year_end(
            first, dict(zip(practices, last_year, strict=True)), dict(zip(practices, aspiration, strict=True))
        )
        actions.approve_aspiration_nationally(service_year=second)
        cutoff = aware("2030-01-07T12:00")
        actions.release(cutoff=cutoff, by=None)  # some instalments go before the year end is known
        for practice, annual, replacement in zip(practices, set_by_hand, replaced, strict=True):
            if replacement is None or (replacement == "calculated" and annual is None):
                continue
            calculated = replacement == "calculated"
            actions.set_aspiration_amount(
                practice=practice, service_year=second, reason="Replaced", by=None,
                kind=AspirationAmount.Kind.CALCULATED if calculated else AspirationAmount.Kind.AGREED,
                annual=None if calculated else replacement,
            )  # fmt: skip
        latest = dict(zip(practices, this_year, strict=True))
        publish_year_end(second, latest)
        actions.approve_year_end_nationally(service_year=second)
        national = None
        for kind, argument in steps:
            cutoff += dt.timedelta(days=31)
            if kind == "recalculate":
                latest = dict(zip(practices, argument, strict=True))
                publish_year_end(second, latest)
            elif kind == "approve":
                awaiting = list(L.objects.filter(status=L.Status.AWAITING_APPROVAL))
                for commissioner in ("01A", "01B", "02A"):
                    actions.approve_lines(commissioner=tree[commissioner], lines=awaiting, by=national)
            elif kind == "write_off":
                small = L.objects.filter(amount__lt=0, amount__gte=-100, status=L.Status.APPROVED).first()
                if small is not None:
                    actions.write_off(line=small, reason="Below the cost of recovery", by=national)
            elif kind == "release":
                actions.release(cutoff=cutoff, by=None)
            else:
                released = list(L.objects.filter(status=L.Status.RELEASED).order_by("reference"))
                verdict = "PAID" if argument else "REJECTED,Account closed"
                rows = [f"{line.reference},{verdict}" for line in released]
                actions.import_acknowledgement(
                    text="\r\n".join(["LINE_REFERENCE,STATUS,REASON", *rows, ""]), by=None
                )
                for line in L.objects.filter(status=L.Status.REJECTED):
                    actions.reissue(line=line, by=national)

        totals = selectors.ledger_totals(second)
        for practice, payment in latest.items():
            by_component = {
                component: sum(
                    L.objects.filter(payee=practice, service_year=second, component=component)
                    .exclude(status__in=selectors.NOT_IN_LEDGER)
                    .values_list("amount", flat=True),
                    Decimal(0),
                )  # each amount read back is a two-place Decimal, so this sum is exact
                for component in L.Component.values
            }
            assert totals.get(practice.pk, Decimal(0)) == payment
            assert sum(by_component.values()) == payment
        sent = [row[1] for file in AgencyFile.objects.all() for row in _rows(file.content)]
        assert len(sent) == len(set(sent)), "a line went to the agency twice"


def _rows(content: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(content)))
    body, trailer = rows[1:-1], rows[-1]
    assert trailer[0] == "TRAILER" and int(trailer[2]) == len(body)
    assert Decimal(trailer[3]) == sum((Decimal(row[7]) for row in body), Decimal("0.00"))
    return body
