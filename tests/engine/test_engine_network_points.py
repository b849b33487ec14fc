"""Points with thresholds at PCN level (the Investment and Impact Fund, DOMAIN.md §7a; ADR 0019): a golden
example worked by hand and properties that must hold for any input."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.network_points import calculate_network_points, pcn_aggregates
from engine.ruleset import validate_ruleset

COLUMNS = [
    "indicator_code", "group_code", "group_description", "domain_code", "points", "kind", "carries_register",
    "patient_list", "additional_patient_list", "prevalence_adjusted", "lower_threshold", "upper_threshold",
    "threshold_confidence",
]  # fmt: skip


def ruleset(*rows):
    return validate_ruleset(pd.DataFrame(rows, columns=COLUMNS).astype(str))


RULES = ruleset(
    ("X01", "VI", "Vaccination", "PE", "10", "percentage", "0", "TOTAL", "", "0", "50", "90", "unconfirmed"),
    (
        "L01",
        "LD",
        "Learning disabilities",
        "HI",
        "14",
        "percentage",
        "1",
        "LD",
        "",
        "1",
        "60",
        "80",
        "unconfirmed",
    ),
)


def values(*rows):
    return pd.DataFrame(
        rows, columns=["practice_code", "indicator_code", "numerator", "denominator", "register"]
    ).astype({"numerator": "Int64", "denominator": "Int64", "register": "Int64"})


VALUES = values(
    ("A", "X01", 300, 500, None), ("A", "L01", 20, 30, 30),
    ("B", "X01", 340, 500, None), ("B", "L01", 14, 20, 20),
    ("C", "X01", 720, 800, None), ("C", "L01", 40, 50, 50),
    ("D", "X01", 50, 100, None), ("D", "L01", 5, 10, 10),
)  # fmt: skip
PRACTICES = pd.DataFrame(
    {
        "practice_code": ["A", "B", "C", "D"],
        "list_size": [6000, 4000, 9000, 2000],
        "list_size_prevalence": [6000, 4000, 9000, 2000],
    }
)
MEMBERSHIPS = pd.DataFrame(
    [
        ("A", "P1", "2019-07-01", None),
        ("B", "P1", "2019-07-01", None),
        ("C", "P2", "2019-07-01", None),
        ("D", "P1", "2019-07-01", "2024-12-31"),
        ("D", "P2", "2025-01-01", None),
    ],
    columns=["practice_code", "pcn_code", "start_date", "end_date"],
)
PAYEES = pd.DataFrame(
    [("P1", "A", "2019-07-01", None), ("P2", "C", "2019-07-01", None)],
    columns=["pcn_code", "payee_code", "start_date", "end_date"],
)
YEAR_END = date(2025, 3, 31)


def calculate(**overrides):
    arguments = {
        "ruleset": RULES,
        "values": VALUES,
        "practices": PRACTICES,
        "memberships": MEMBERSHIPS,
        "payees": PAYEES,
        "point_value": Decimal("198"),
        "as_at": YEAR_END,
        **overrides,
    }
    return calculate_network_points(**arguments)


def test_iif_by_hand():
    """As at 31 March 2025 D has moved from P1 to P2 (1 January 2025), so P1 = A + B and P2 = C + D.

    Lists: P1 6,000 + 4,000 = 10,000; P2 9,000 + 2,000 = 11,000; 2 PCNs, national mean 21,000 / 2 = 10,500,
    so the list-size adjustments are 10,000 / 10,500 = 20/21 and 11,000 / 10,500 = 22/21.
    LD registers: P1 30 + 20 = 50, P2 50 + 10 = 60; national PCN prevalence 110 / 21,000, so the prevalence
    adjustments are (50 / 10,000) / (110 / 21,000) = 21/22 and (60 / 11,000) / (110 / 21,000) = 126/121.

    P1 X01: 640 / 1,000 = 64% → 10 × (64 − 50) / (90 − 50) = 3.50 points; 3.50 × £198 × 20/21 = £660.00.
    P1 L01: 34 / 50 = 68% → 14 × (68 − 60) / (80 − 60) = 5.60 points;
            5.60 × £198 × 20/21 × 21/22 = £1,108.80 × 20/22 = £1,008.00.
    P2 X01: 770 / 900 = 85.555…% → 10 × 35.555… / 40 = 8.888… → 8.89 points (half-up from the exact value);
            8.89 × £198 = £1,760.22 × 22/21 = £1,844.04.
    P2 L01: 45 / 60 = 75% → 14 × 15 / 20 = 10.50 points; 10.50 × £198 × 22/21 × 126/121 = £2,268.00.
    Totals: P1 9.10 points, £1,668.00 to A; P2 19.39 points, £4,112.04 to C.
    """
    result = calculate()
    lines = result.lines.set_index(["pcn_code", "indicator_code"])
    assert lines.loc[("P1", "X01"), ["numerator", "denominator"]].tolist() == [640, 1000]
    assert lines.loc[("P2", "L01"), ["numerator", "denominator", "register"]].tolist() == [45, 60, 60]
    assert lines["points_hundredths"].to_dict() == {
        ("P1", "L01"): 560, ("P1", "X01"): 350, ("P2", "L01"): 1050, ("P2", "X01"): 889,
    }  # fmt: skip
    assert lines["payment_pence"].to_dict() == {
        ("P1", "L01"): 100800, ("P1", "X01"): 66000, ("P2", "L01"): 226800, ("P2", "X01"): 184404,
    }  # fmt: skip
    assert lines.loc[("P1", "X01"), "prevalence_adjustment"] == 1
    assert lines.loc[("P2", "L01"), "prevalence_adjustment"] == pytest.approx(126 / 121)
    assert lines.loc[("P1", "X01"), "list_adjustment"] == pytest.approx(20 / 21)
    totals = result.pcn_totals.set_index("pcn_code")
    assert totals.loc["P1"].tolist() == ["A", 910, 166800]
    assert totals.loc["P2"].tolist() == ["C", 1939, 411204]


def test_before_the_move_the_practice_counts_towards_its_old_pcn():
    """As at 31 December 2024 D is still in P1: P1's X01 is 690 / 1,100 and P2 has C alone."""
    lines = calculate(as_at=date(2024, 12, 31)).lines.set_index(["pcn_code", "indicator_code"])
    assert lines.loc[("P1", "X01"), ["numerator", "denominator"]].tolist() == [690, 1100]
    assert lines.loc[("P2", "X01"), ["numerator", "denominator"]].tolist() == [720, 800]


def test_a_pcn_without_a_payee_is_refused_or_held_without_changing_the_others():
    without_p2 = PAYEES[PAYEES["pcn_code"] == "P1"]
    with pytest.raises(ValueError, match="no nominated payee on 2025-03-31 for P2"):
        calculate(payees=without_p2)
    held = calculate(payees=without_p2, hold_without_payee=True)
    assert set(held.lines["pcn_code"]) == {"P1"}
    # The national mean still counts P2: P1 is paid exactly what it is paid when P2 has a payee.
    assert held.pcn_totals["payment_pence"].tolist() == [166800]


def test_an_indicator_nobody_reported_scores_nothing_and_a_zero_denominator_has_no_achievement():
    lines = calculate(values=VALUES[VALUES["indicator_code"] == "X01"]).lines
    ld = lines[lines["indicator_code"] == "L01"]
    assert ld["points_hundredths"].tolist() == [0, 0]
    assert ld["payment_pence"].tolist() == [0, 0]
    assert ld["achievement"].isna().all()


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="0 <= numerator <= denominator"):
        calculate(values=values(("A", "X01", 501, 500, None)))
    with pytest.raises(ValueError, match="outside the ruleset"):
        calculate(values=values(("A", "Z99", 1, 2, None)))
    with pytest.raises(ValueError, match="no list size for B"):
        calculate(practices=PRACTICES[PRACTICES["practice_code"] != "B"])
    register_rules = ruleset(
        ("R01", "RG", "Register", "CL", "5", "register", "0", "TOTAL", "", "0", "", "", ""),
    )
    with pytest.raises(ValueError, match="percentage indicators only"):
        calculate(ruleset=register_rules)


# Properties

practice_codes = [f"Q{number}" for number in range(6)]


@st.composite
def networks(draw):
    """Random members, moves, lists and values for two indicators (one prevalence adjusted)."""
    rows, member_rows = [], []
    for code in practice_codes:
        first = draw(st.sampled_from(["N1", "N2", "N3"]))
        moves = draw(st.booleans())
        if moves:
            second = draw(st.sampled_from(["N1", "N2", "N3"]))
            member_rows += [(code, first, "2024-04-01", "2024-09-30"), (code, second, "2024-10-01", None)]
        else:
            member_rows.append((code, first, "2024-04-01", None))
        for indicator in ("X01", "L01"):
            denominator = draw(st.integers(0, 5000))
            numerator = draw(st.integers(0, denominator))
            register = draw(st.integers(0, 500)) if indicator == "L01" else None
            rows.append((code, indicator, numerator, denominator, register))
    lists = draw(st.lists(st.integers(1, 40000), min_size=len(practice_codes), max_size=len(practice_codes)))
    practices = pd.DataFrame(
        {"practice_code": practice_codes, "list_size": lists, "list_size_prevalence": lists}
    )
    memberships = pd.DataFrame(member_rows, columns=["practice_code", "pcn_code", "start_date", "end_date"])
    as_at = draw(st.sampled_from([date(2024, 9, 30), date(2024, 10, 1), date(2025, 3, 31)]))
    point_value = draw(st.decimals(Decimal("1"), Decimal("500"), places=2))
    return values(*rows), practices, memberships, as_at, point_value


def _payees():
    return pd.DataFrame(
        [(pcn, "Q0", "2024-04-01", None) for pcn in ("N1", "N2", "N3")],
        columns=["pcn_code", "payee_code", "start_date", "end_date"],
    )


@settings(max_examples=150, deadline=None)
@given(networks())
def test_points_never_above_the_maximum_and_money_never_negative_and_exact(network):
    values_, practices, memberships, as_at, point_value = network
    result = calculate_network_points(
        ruleset=RULES, values=values_, practices=practices, memberships=memberships, payees=_payees(),
        point_value=point_value, as_at=as_at,
    )  # fmt: skip
    lines = result.lines
    maximum = lines["indicator_code"].map({"X01": 1000, "L01": 1400})
    assert (lines["points_hundredths"] >= 0).all()
    assert (lines["points_hundredths"] <= maximum).all()
    assert (lines["payment_pence"] >= 0).all()
    # Exact: every payment is the half-up penny of the rational money of its rounded points.
    n, list_total = len(lines["pcn_code"].unique()), int(lines.drop_duplicates("pcn_code")["list_size"].sum())
    ld = lines[lines["indicator_code"] == "L01"]
    register_total = int(ld["register"].sum())
    population_total = int(lines.drop_duplicates("pcn_code")["list_size_prevalence"].sum())
    for row in lines.itertuples():
        money = Fraction(int(row.points_hundredths), 100) * Fraction(point_value)
        money *= Fraction(int(row.list_size) * n, list_total)
        if row.indicator_code == "L01":
            money = (
                money
                * Fraction(
                    int(row.register) * population_total, int(row.list_size_prevalence) * register_total
                )
                if register_total
                else Fraction(0)
            )
        pence = (Decimal(money.numerator) / Decimal(money.denominator) * 100).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
        assert int(row.payment_pence) == int(pence)


@settings(max_examples=150, deadline=None)
@given(networks())
def test_a_pcn_aggregate_is_the_sum_of_its_members_as_at_the_date(network):
    values_, practices, memberships, as_at, _ = network
    summed, lists = pcn_aggregates(values_, practices, memberships, as_at)
    day = pd.Timestamp(as_at)
    in_force = memberships[
        (pd.to_datetime(memberships["start_date"]) <= day)
        & (memberships["end_date"].isna() | (pd.to_datetime(memberships["end_date"]) >= day))
    ]
    pcn_of = dict(zip(in_force["practice_code"], in_force["pcn_code"], strict=True))
    expected: dict[tuple, list[int]] = {}
    for row in values_.itertuples():
        totals = expected.setdefault((pcn_of[row.practice_code], row.indicator_code), [0, 0, 0])
        totals[0] += int(row.numerator)
        totals[1] += int(row.denominator)
        totals[2] += 0 if pd.isna(row.register) else int(row.register)
    got = {
        (row.pcn_code, row.indicator_code): [int(row.numerator), int(row.denominator), int(row.register)]
        for row in summed.itertuples()
    }
    assert got == expected
    sizes = dict(zip(practices["practice_code"], practices["list_size"], strict=True))
    expected_lists: dict[str, int] = {}
    for code, pcn in pcn_of.items():
        expected_lists[pcn] = expected_lists.get(pcn, 0) + sizes[code]
    assert dict(zip(lists["pcn_code"], lists["list_size"], strict=True)) == expected_lists
