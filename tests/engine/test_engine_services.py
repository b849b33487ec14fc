"""Item of service, capitation and PCN aggregation (DOMAIN.md §7a): golden examples worked by hand and
properties that must hold for any input."""

from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.capitation import calculate_capitation, network_contract_month, scaled_population
from engine.errors import InputError
from engine.item_of_service import calculate_items, fee_pence, practice_totals
from engine.network import aggregate_to_pcns, members_as_at, payees_as_at
from engine.periods import achievement_dates, month_of_year

Q1, Q2, Q3 = pd.Timestamp("2025-06-30"), pd.Timestamp("2025-09-30"), pd.Timestamp("2025-12-31")
LD_FEES = pd.DataFrame({"component": ["health_check"], "fee_pence": [14000], "capped_by_register": [True]})
IMMS_FEES = pd.DataFrame(
    {
        "component": ["routine_childhood_dose", "dose_cohort_6_15", "dose_cohort_16_plus"],
        "fee_pence": [fee_pence("12.06"), fee_pence("12.06"), fee_pence("10.06")],
        "capped_by_register": [False, False, False],
    }
)


def claims(*rows):
    return pd.DataFrame(
        [(line, *row) for line, row in enumerate(rows, start=2)],
        columns=["line", "practice_code", "achievement_date", "component", "count"],
    )


def registers(*rows):
    return pd.DataFrame(rows, columns=["practice_code", "achievement_date", "register"])


# Item of service


def test_childhood_immunisations_2025_26_by_hand():
    # 37 routine doses at £12.06 = £446.22; 4 MMR doses to a 7-year-old at £12.06 = £48.24;
    # 2 MMR doses to adults at £10.06 = £20.12. Practice total £514.58.
    lines = calculate_items(
        claims(
            ("A81001", Q1, "routine_childhood_dose", 37),
            ("A81001", Q1, "dose_cohort_6_15", 4),
            ("A81001", Q1, "dose_cohort_16_plus", 2),
        ),
        IMMS_FEES,
    )
    assert lines["amount_pence"].tolist() == [44622, 4824, 2012]
    assert practice_totals(lines)["amount_pence"].tolist() == [51458]


def test_a_fee_is_whole_pence():
    assert fee_pence("10.06") == 1006
    assert fee_pence(Decimal("140")) == 14000
    with pytest.raises(ValueError, match="more than 2 decimal places"):
        fee_pence("1.761")


def test_ld_health_checks_are_paid_each_quarter_up_to_the_register():
    # Register 50: 30 in Q1 (£4,200.00) and 20 in Q2 (£2,800.00) reach it exactly, and are paid.
    lines = calculate_items(
        claims(("A81001", Q1, "health_check", 30), ("A81001", Q2, "health_check", 20)),
        LD_FEES,
        registers(("A81001", Q1, 50), ("A81001", Q2, 50)),
    )
    assert lines["amount_pence"].tolist() == [420000, 280000]


def test_an_ld_claim_over_the_register_is_refused_naming_its_line():
    with pytest.raises(InputError) as refused:
        calculate_items(
            claims(
                ("A81001", Q1, "health_check", 30),
                ("B82002", Q1, "health_check", 5),
                ("A81001", Q2, "health_check", 25),
            ),
            LD_FEES,
            registers(("A81001", Q1, 50), ("A81001", Q2, 52), ("B82002", Q1, 9)),
        )
    assert [str(problem) for problem in refused.value.problems] == [
        "line 4, field count: health_check: 55 in the year to 2025-09-30 would exceed the register of 52"
    ]


def test_a_capped_claim_without_a_register_is_refused():
    with pytest.raises(InputError, match="line 2, field count: no register for the practice"):
        calculate_items(claims(("A81001", Q1, "health_check", 1)), LD_FEES, registers())


def test_bad_claims_are_refused_together_each_by_line():
    with pytest.raises(InputError) as refused:
        calculate_items(
            claims(
                ("A81001", Q1, "routine_childhood_dose", -1),
                ("A81001", Q1, "shingles_dose", 3),
                ("A81001", Q1, "dose_cohort_6_15", 2.5),
                ("A81001", Q1, "dose_cohort_6_15", 2),
            ),
            IMMS_FEES,
        )
    assert [(p.line, p.field) for p in refused.value.problems] == [
        (2, "count"), (3, "component"), (4, "count"), (5, "component")
    ]  # fmt: skip


counts = st.integers(min_value=0, max_value=60)


@settings(max_examples=200, deadline=None)
@given(
    quarters=st.lists(st.tuples(counts, counts), min_size=1, max_size=4),
    register=st.integers(min_value=0, max_value=150),
    fee=st.integers(min_value=0, max_value=50_000),
)
def test_caps_are_never_exceeded_and_fees_never_negative(quarters, register, fee):
    dates = [pd.Timestamp(day) for day in achievement_dates(2025, "quarterly")][: len(quarters)]
    rows = [
        (practice, day, "health_check", pair[index])
        for day, pair in zip(dates, quarters, strict=True)
        for index, practice in enumerate(["A", "B"])
    ]
    fees = LD_FEES.assign(fee_pence=[fee])
    regs = registers(*[(practice, day, register) for day in dates for practice in ["A", "B"]])
    cumulative = {
        practice: np.cumsum([pair[index] for pair in quarters]) for index, practice in enumerate("AB")
    }
    over = any(total[-1] > register for total in cumulative.values())
    if over:
        with pytest.raises(InputError):
            calculate_items(claims(*rows), fees, regs)
        return
    lines = calculate_items(claims(*rows), fees, regs)
    assert (lines["amount_pence"] >= 0).all()
    assert (lines.groupby("practice_code")["count"].sum() <= register).all()
    assert lines["amount_pence"].sum() == fee * sum(sum(pair) for pair in quarters)


# Capitation

NCD_2024_25 = pd.DataFrame(
    {
        "component": ["network_participation", "core_pcn_funding_registered", "core_pcn_funding_adjusted",
                      "enhanced_access", "care_home_premium"],
        "rate": [Decimal("1.761"), Decimal("2.218"), Decimal("0.698"), Decimal("7.674"), Decimal("10.00")],
        "unit": ["per_patient_per_year"] * 4 + ["per_bed_per_month"],
        "population": ["weighted", "registered", "adjusted", "adjusted", "beds"],
        "paid_to": ["practice"] + ["nominated_payee"] * 4,
    }
)  # fmt: skip


def test_capitation_is_the_annual_amount_in_twelve_instalments_by_hand():
    # 10,234.5 weighted patients × £1.761 = £18,022.9545 → £18,022.95 a year;
    # April–February £1,501.91 each (1,802,295 / 12 = 150,191.25 rounded down), March £1,501.94.
    populations = pd.DataFrame(
        {"payee_code": ["A81001"], "component": ["network_participation"], "population": ["10234.5"]}
    )
    april = calculate_capitation(populations, NCD_2024_25, month=1)
    march = calculate_capitation(populations, NCD_2024_25, month=12)
    assert april[["annual_pence", "amount_pence"]].values.tolist() == [[1802295, 150191]]
    assert march["amount_pence"].tolist() == [150194]
    assert 11 * 150191 + 150194 == 1802295


def test_care_home_premium_is_ten_pounds_per_bed_each_month():
    populations = pd.DataFrame(
        {"payee_code": ["A81001"], "component": ["care_home_premium"], "population": [37]}
    )
    paid = calculate_capitation(populations, NCD_2024_25, month=5)
    assert paid[["annual_pence", "amount_pence"]].values.tolist() == [[0, 37000]]


def test_populations_are_exact_and_floats_refused():
    assert scaled_population(pd.Series([12, 0])).tolist() == [120000, 0]
    assert scaled_population(pd.Series(["1.5", Decimal("2.0001"), "3"])).tolist() == [15000, 20001, 30000]
    with pytest.raises(TypeError):
        scaled_population(pd.Series([1.5]))
    with pytest.raises(ValueError, match="at most 4 places"):
        scaled_population(pd.Series(["1.23456"]))


@settings(max_examples=200, deadline=None)
@given(
    population=st.integers(min_value=0, max_value=200_000),
    places=st.integers(min_value=0, max_value=9_999),
    rate=st.decimals(min_value=0, max_value=20, places=3),
)
def test_a_years_instalments_add_up_to_the_annual_amount_and_are_never_negative(population, places, rate):
    populations = pd.DataFrame(
        {"payee_code": ["X"], "component": ["c"], "population": [f"{population}.{places:04d}"]}
    )
    rates = pd.DataFrame({"component": ["c"], "rate": [rate], "unit": ["per_patient_per_year"]})
    months = [calculate_capitation(populations, rates, month=m)["amount_pence"].iloc[0] for m in range(1, 13)]
    annual = calculate_capitation(populations, rates, month=1)["annual_pence"].iloc[0]
    exact = rate * (population + Decimal(places) / 10_000) * 100
    assert annual == int(exact.quantize(Decimal(1), rounding="ROUND_HALF_UP"))
    assert sum(months) == annual
    assert min(months) >= 0


# PCNs as at a date

MEMBERSHIPS = pd.DataFrame(
    {
        "practice_code": ["A", "B", "C", "B", "D"],
        "pcn_code": ["P1", "P1", "P2", "P2", "P2"],
        "start_date": [date(2019, 7, 1)] * 3 + [date(2024, 10, 1), date(2019, 7, 1)],
        "end_date": [None, date(2024, 9, 30), None, None, date(2024, 4, 30)],
    }
)  # fmt: skip
PAYEES = pd.DataFrame(
    {
        "pcn_code": ["P1", "P2", "P2"],
        "payee_code": ["A", "D", "C"],
        "start_date": [date(2019, 7, 1), date(2019, 7, 1), date(2024, 5, 1)],
        "end_date": [None, date(2024, 4, 30), None],
    }
)
PRACTICES = pd.DataFrame(
    {
        "practice_code": ["A", "B", "C", "D"],
        "registered": [10_000, 5_000, 3_000, 2_000],
        "weighted": ["10234.5", "4800.25", "3000", "2100"],
        "adjusted": [9_000, 5_200, 2_800, 1_900],
    }
)


def test_membership_and_nominated_payee_as_at_a_date_include_both_end_days():
    assert members_as_at(MEMBERSHIPS, date(2024, 9, 30)).values.tolist() == [
        ["A", "P1"],
        ["B", "P1"],
        ["C", "P2"],
    ]
    assert members_as_at(MEMBERSHIPS, date(2024, 4, 30))["practice_code"].tolist() == ["A", "B", "C", "D"]
    assert payees_as_at(PAYEES, date(2024, 4, 30)).values.tolist() == [["P1", "A"], ["P2", "D"]]
    assert payees_as_at(PAYEES, date(2024, 5, 1)).values.tolist() == [["P1", "A"], ["P2", "C"]]


def test_a_practice_in_two_pcns_on_one_day_is_refused():
    overlapping = pd.concat(
        [
            MEMBERSHIPS,
            pd.DataFrame([{"practice_code": "A", "pcn_code": "P2", "start_date": date(2024, 1, 1)}]),
        ]
    )
    with pytest.raises(ValueError, match="practices in two PCNs on 2024-06-30: A"):
        members_as_at(overlapping, date(2024, 6, 30))


def test_network_contract_month_before_and_after_a_practice_moves_pcn_by_hand():
    beds = pd.DataFrame({"pcn_code": ["P1"], "beds": [40]})

    def month(as_at, number):
        lines = network_contract_month(
            practices=PRACTICES, memberships=MEMBERSHIPS, payees=PAYEES, rates=NCD_2024_25,
            as_at=as_at, month=number, care_home_beds=beds,
        )  # fmt: skip
        return {(row.payee_code, row.pcn_code, row.component): row.amount_pence for row in lines.itertuples()}

    june = month(date(2024, 6, 30), 3)
    # P1 = A + B: 15,000 registered × £2.218 = £33,270.00 a year, £2,772.50 a month, to A.
    assert june[("A", "P1", "core_pcn_funding_registered")] == 277250
    # Enhanced access on 14,200 adjusted × £7.674 = £108,970.80 a year; 1/12 = £9,080.90 to A.
    assert june[("A", "P1", "enhanced_access")] == 908090
    # Care Home Premium: 40 beds × £10 = £400.00 this month, to P1's payee.
    assert june[("A", "P1", "care_home_premium")] == 40000
    # B's own Network Participation Payment: 4,800.25 × £1.761 = £8,453.24 a year, £704.43 a month.
    assert june[("B", "P1", "network_participation")] == 70443
    # D left P2 on 30 April: it is paid nothing in June, and C is P2's payee since 1 May.
    assert not [key for key in june if key[0] == "D"]
    assert june[("C", "P2", "core_pcn_funding_registered")] == 55450  # 3,000 × £2.218 / 12

    october = month(date(2024, 10, 31), 7)
    # B has moved to P2: P1 is A alone (10,000 × £2.218 = £22,180.00; £1,848.33 a month) ...
    assert october[("A", "P1", "core_pcn_funding_registered")] == 184833
    # ... and P2 is B + C (8,000 × £2.218 = £17,744.00; £1,478.66 a month).
    assert october[("C", "P2", "core_pcn_funding_registered")] == 147866
    assert october[("B", "P2", "network_participation")] == 70443


def test_a_pcn_without_a_nominated_payee_is_refused_by_name():
    with pytest.raises(ValueError, match="no nominated payee on 2024-06-30 for P2"):
        network_contract_month(
            practices=PRACTICES, memberships=MEMBERSHIPS, payees=PAYEES[PAYEES["pcn_code"] == "P1"],
            rates=NCD_2024_25, as_at=date(2024, 6, 30), month=3,
        )  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    memberships=st.lists(
        st.tuples(
            st.sampled_from(["P1", "P2", "P3"]),
            st.dates(min_value=date(2023, 1, 1), max_value=date(2025, 12, 31)),
            st.one_of(st.none(), st.integers(min_value=0, max_value=900)),
        ),
        min_size=1,
        max_size=12,
    ),
    lists=st.lists(st.integers(min_value=0, max_value=40_000), min_size=12, max_size=12),
    as_at=st.dates(min_value=date(2023, 1, 1), max_value=date(2025, 12, 31)),
)
def test_pcn_totals_equal_the_sum_of_their_members_as_at_the_date(memberships, lists, as_at):
    # One membership per practice (a practice moving is covered by the golden example above).
    frame = pd.DataFrame(
        {
            "practice_code": [f"K{index:02d}" for index in range(len(memberships))],
            "pcn_code": [pcn for pcn, _, _ in memberships],
            "start_date": [start for _, start, _ in memberships],
            "end_date": [None if days is None else pd.Timestamp(start) + pd.Timedelta(days=days)
                         for _, start, days in memberships],
        }
    )  # fmt: skip
    values = pd.DataFrame({"practice_code": [f"K{i:02d}" for i in range(12)], "registered": lists})
    totals = aggregate_to_pcns(values, frame, as_at, ["registered"]).set_index("pcn_code")
    for pcn in ["P1", "P2", "P3"]:
        members = [
            index
            for index, (code, start, days) in enumerate(memberships)
            if code == pcn
            and start <= as_at
            and (days is None or as_at <= start + pd.Timedelta(days=days).to_pytimedelta())
        ]
        if members:
            assert totals.loc[pcn, "registered"] == sum(lists[index] for index in members)
            assert totals.loc[pcn, "practices"] == len(members)
        else:
            assert pcn not in totals.index


# Periods


def test_month_of_year_counts_from_april():
    assert month_of_year(2025, date(2025, 4, 30)) == 1
    assert month_of_year(2025, date(2026, 3, 31)) == 12
    with pytest.raises(ValueError):
        month_of_year(2025, date(2026, 4, 30))
