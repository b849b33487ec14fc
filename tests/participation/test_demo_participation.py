from django.utils import timezone

from accounts import actions as account_actions
from accounts.models import AuditEvent, Organisation
from cqrs_portal.demo import DEFAULT_ICB, load_mapping_for_icb, offer_demo_participation
from participation.actions import load_rulesets
from participation.models import Offer, Participation
from participation.ruleset_files import RULESETS_DIR, read_rulesets


def test_demo_offers_show_every_state_and_a_second_run_changes_nothing(db):
    load_rulesets(rulesets=read_rulesets(RULESETS_DIR), by=None)
    account_actions.import_organisations(
        mapping=load_mapping_for_icb(DEFAULT_ICB), effective_date=timezone.localdate(), by=None
    )
    icb = Organisation.objects.get(code=DEFAULT_ICB)

    offer_demo_participation(icb)

    practices = Organisation.objects.filter(type="practice", parent__parent=icb).count()
    # The demo practice manager's practice takes part in 2023/24 and still has 2024/25 to accept.
    expected = {
        "QOF2324": {"accepted": 1, "declined": 1, "approved": practices - 2},
        "QOF2425": {"offered": 1, "accepted": 1, "declined": 1, "approved": practices - 3},
    }
    for year, counts in expected.items():
        states = list(Offer.objects.filter(service_year__code=year).values_list("state", flat=True))
        assert {state: states.count(state) for state in set(states)} == counts
    assert Participation.objects.count() == (practices - 2) + (practices - 3)

    snapshot = list(Offer.objects.order_by("pk").values()), AuditEvent.objects.count()
    offer_demo_participation(icb)
    assert (list(Offer.objects.order_by("pk").values()), AuditEvent.objects.count()) == snapshot
