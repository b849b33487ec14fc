"""The whole demo, loaded once (it is the slowest fixture there is): what its calculations and payments leave
behind, and that loading it again changes nothing."""

from decimal import Decimal

from django.db.models import Q

from accounts.models import PcnMembership
from calculation.models import CalculationRun, PracticeResult, Publication, ServiceLine
from cqrs_portal.demo import DEMO_IIF_YEAR, DEMO_NETWORK_MONTHS, DEMO_NETWORK_YEAR, load_demo
from declarations.models import Declaration
from participation.models import NominatedPayee, ServiceYear
from participation.selectors import participating_practice_codes
from payments import selectors
from payments.models import PaymentBatch, PaymentLine
from tests.calculation.helpers import YEAR_END

L = PaymentLine
Status = CalculationRun.Status


def test_the_demo_loads_its_story_once_and_a_second_load_changes_nothing(db):

    load_demo()
    # The declarations and payments demos recalculate practices after payment, so the publication now points
    # at the last of those recalculations, which carries the national year end's other practices forward.
    publication = Publication.objects.get(service_year__code="QOF2324", achievement_date=YEAR_END)
    assert publication.run.kind == CalculationRun.Kind.RECALCULATION
    year_end = CalculationRun.objects.get(
        service_year__code="QOF2324", achievement_date=YEAR_END, kind=CalculationRun.Kind.YEAR_END
    )
    assert year_end.status == Status.PUBLISHED
    assert Publication.objects.filter(service_year__code="QOF2324").count() == 3
    practice = PracticeResult.objects.filter(run=year_end).order_by("practice__code").first().practice
    trend = [
        row.points
        for row in PracticeResult.objects.filter(practice=practice, run__kind__in=["in_year", "year_end"])
        .filter(run__service_year__code="QOF2324")
        .order_by("run__achievement_date")
    ]
    assert len(trend) == 3 and trend[0] <= trend[1] <= trend[2]
    # 2024/25: published at 31 December, and held at 28 February for Support to confirm its prevalence.
    following = CalculationRun.objects.filter(service_year__code="QOF2425").order_by("achievement_date")
    assert [run.status for run in following] == [Status.PUBLISHED, Status.HELD]
    # Payments: aspiration and a year end paid, then an adjustment and a recovery after recalculation.
    assert PaymentBatch.objects.count() == 1
    assert L.objects.filter(component=L.Component.ASPIRATION, status=L.Status.PAID).exists()
    assert L.objects.filter(component=L.Component.ACHIEVEMENT_BALANCE, status=L.Status.PAID).exists()
    adjustments = sorted(L.objects.filter(component=L.Component.ADJUSTMENT).values_list("amount", flat=True))
    assert len(adjustments) == 2 and adjustments[0] < 0 < adjustments[1]
    assert set(L.objects.filter(component=L.Component.ADJUSTMENT).values_list("status", flat=True)) == {
        "approved"
    }
    year = L.objects.filter(component=L.Component.ADJUSTMENT).first().service_year
    latest = selectors.year_end_publication(year).run_id
    payments = dict(PracticeResult.objects.filter(run_id=latest).values_list("practice_id", "payment"))
    assert selectors.ledger_totals(year) == {
        practice: Decimal(payment) for practice, payment in payments.items()
    }

    # Network Contract DES: every PCN's month paid to its nominated payee, but the practice manager's PCN,
    # left for their practice to declare as its payee (ADR 0018).
    first = Declaration.objects.filter(
        service_year__code=DEMO_NETWORK_YEAR, achievement_date=DEMO_NETWORK_MONTHS[0], practice__type="pcn"
    )
    waiting = first.filter(state=Declaration.State.AWAITING_PRACTICE)
    assert waiting.count() == 1
    assert NominatedPayee.objects.filter(pcn=waiting.get().practice, end_date__isnull=True).exists()
    approved = first.exclude(pk=waiting.get().pk)
    assert approved and set(approved.values_list("state", flat=True)) == {Declaration.State.APPROVED}
    for declaration in approved:
        line = L.objects.get(declaration=declaration)
        payee = NominatedPayee.objects.get(pcn=declaration.practice).payee
        assert (line.component, line.payee, line.amount) == (
            L.Component.NETWORK_PAYMENT, payee, declaration.payment,
        )  # fmt: skip

    # Every member of the demo's PCNs takes part in the Network Contract DES (ADR 0018: paid only while a
    # member and taking part), so each is paid its own Network Participation Payment every month.
    network_year = ServiceYear.objects.get(code=DEMO_NETWORK_YEAR)
    for month in DEMO_NETWORK_MONTHS:
        in_force = PcnMembership.objects.filter(
            Q(end_date__isnull=True) | Q(end_date__gte=month), start_date__lte=month
        )
        members = set(in_force.values_list("practice__code", flat=True))
        assert members and members <= participating_practice_codes(network_year, on=month)
        run = Publication.objects.get(service_year=network_year, achievement_date=month).run
        paid = ServiceLine.objects.filter(run=run, component="network_participation")
        assert set(paid.values_list("practice__code", flat=True)) == members

    # Investment and Impact Fund 2024/25: each PCN's points and money at the year end, paid to its payee and
    # declared by the PCN through it (ADR 0019).
    iif = Declaration.objects.filter(service_year__code=DEMO_IIF_YEAR).select_related("practice")
    assert iif and {d.practice.type for d in iif} == {"pcn"}
    assert {d.state for d in iif} == {Declaration.State.AWAITING_PRACTICE}
    assert all(0 < d.points <= 58 and d.payment > 0 for d in iif)
    for declaration in iif:
        lines = ServiceLine.objects.filter(run=declaration.run, pcn=declaration.practice)
        assert {line.payee for line in lines} == {NominatedPayee.objects.get(pcn=declaration.practice).payee}
        assert sum(line.points for line in lines) == declaration.points

    runs = CalculationRun.objects.count()
    load_demo()
    # 3 runs of 2023/24, 2 of 2024/25, the declarations demo's recalculation of a practice already sent for
    # payment, the payments demo's 2 practice recalculations after payment; then the services demo's four
    # LD health check quarters and three Network Contract DES months; the IIF 2024/25 year end.
    assert CalculationRun.objects.count() == runs == 8 + 4 + 3 + 1
