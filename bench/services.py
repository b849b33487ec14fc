"""National monthly runs of the services beyond QOF (issue 10): childhood immunisations (item of service,
with the quarterly LD health check and its register cap) and the Network Contract DES (capitation to
practices and PCN nominated payees).

    uv run python bench/services.py [--repeat N]

Inputs are synthetic but national in shape: the 6,410 real 2023/24 practice codes and their real PCNs from
shared/qof_data (practices in no PCN, "U" codes aside), list sizes drawn as engine.synthetic draws them, and
200 practices moving PCN mid-year. Each engine run is timed against a per-row pure-Python (Decimal) version
of the same rules measured in this run, and their payments are compared penny for penny.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine import synthetic  # noqa: E402
from engine.capitation import network_contract_month  # noqa: E402
from engine.item_of_service import calculate_items, fee_pence  # noqa: E402
from engine.periods import achievement_dates  # noqa: E402

SHARED = REPO.parent / "shared"
PRACTICE_MAPPINGS = SHARED / "qof_data" / "NHSDigital_QOF__QOF_MANUAL_MAPPINGS.csv"
TARGET_SECONDS = 10.0
AS_AT = date(2024, 10, 31)  # month 7 of 2024/25, after the mid-year moves
MONTH = 7
IMMS_FEES = {"routine_childhood_dose": "12.06", "dose_cohort_6_15": "12.06", "dose_cohort_16_plus": "10.06"}
NCD_RATES = pd.DataFrame(
    {
        "component": ["network_participation", "core_pcn_funding_registered", "core_pcn_funding_adjusted",
                      "enhanced_access", "care_home_premium"],
        "rate": [Decimal("1.761"), Decimal("2.218"), Decimal("0.698"), Decimal("7.674"), Decimal("10.00")],
        "unit": ["per_patient_per_year"] * 4 + ["per_bed_per_month"],
        "population": ["weighted", "registered", "adjusted", "adjusted", "beds"],
        "paid_to": ["practice"] + ["nominated_payee"] * 4,
    }
)  # fmt: skip


def national_inputs(seed: int = 1011):
    rng = np.random.default_rng(seed)
    mapping = pd.read_csv(PRACTICE_MAPPINGS, usecols=["PRACTICE_CODE", "PCN_ODS_CODE"], dtype=str)
    mapping = mapping.sort_values("PRACTICE_CODE", ignore_index=True)
    codes = mapping["PRACTICE_CODE"].to_numpy()
    registered = synthetic.list_sizes(len(codes), rng)
    weighted = registered * rng.uniform(0.85, 1.2, len(codes))
    practices = pd.DataFrame(
        {
            "practice_code": codes,
            "registered": registered,
            # Weighted lists carry two decimals, as published; as text so that they stay exact.
            "weighted": pd.Series(np.round(weighted, 2)).map("{:.2f}".format).to_numpy(),
            "adjusted": (registered * rng.uniform(0.9, 1.1, len(codes))).astype(np.int64),
            "ld_register": rng.poisson(registered / 180),
        }
    )
    in_pcn = mapping["PCN_ODS_CODE"].notna() & (mapping["PCN_ODS_CODE"] != "U")
    members = mapping[in_pcn]
    memberships = pd.DataFrame(
        {
            "practice_code": members["PRACTICE_CODE"].to_numpy(),
            "pcn_code": members["PCN_ODS_CODE"].to_numpy(),
            "start_date": date(2019, 7, 1),
            "end_date": None,
        }
    )
    pcns = np.sort(memberships["pcn_code"].unique())
    first_member = memberships.drop_duplicates("pcn_code")
    movers = rng.choice(len(memberships), size=200, replace=False)
    moved = memberships.iloc[movers].copy()
    memberships.loc[memberships.index[movers], "end_date"] = date(2024, 9, 30)
    moved["pcn_code"] = rng.choice(pcns, size=len(moved))
    moved["start_date"] = date(2024, 10, 1)
    memberships = pd.concat([memberships, moved], ignore_index=True)
    payees = pd.DataFrame(
        {
            "pcn_code": first_member["pcn_code"].to_numpy(),
            "payee_code": first_member["practice_code"].to_numpy(),
            "start_date": date(2019, 7, 1),
            "end_date": None,
        }
    )
    beds = pd.DataFrame({"pcn_code": pcns, "beds": rng.poisson(60, len(pcns))})
    return practices, memberships, payees, beds


def immunisation_claims(practices: pd.DataFrame, rng) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One month of childhood immunisation claims, and a year of quarterly LD health check claims."""
    codes = practices["practice_code"].to_numpy()
    month_end = pd.Timestamp(achievement_dates(2025, "monthly")[MONTH - 1])
    rows = []
    for component, per_thousand in [
        ("routine_childhood_dose", 9),
        ("dose_cohort_6_15", 0.4),
        ("dose_cohort_16_plus", 0.2),
    ]:
        rows.append(
            pd.DataFrame(
                {
                    "practice_code": codes,
                    "achievement_date": month_end,
                    "component": component,
                    "count": rng.poisson(practices["registered"].to_numpy() * per_thousand / 1000),
                }
            )
        )
    imms = pd.concat(rows, ignore_index=True)
    quarters = [pd.Timestamp(day) for day in achievement_dates(2025, "quarterly")]
    register = practices["ld_register"].to_numpy()
    share = rng.dirichlet([1, 1, 1, 1], len(codes))
    done = np.floor(register[:, None] * rng.uniform(0.4, 1.0, (len(codes), 1)) * share).astype(np.int64)
    ld = pd.DataFrame(
        {
            "practice_code": np.repeat(codes, 4),
            "achievement_date": np.tile(quarters, len(codes)),
            "component": "health_check",
            "count": done.reshape(-1),
        }
    )
    registers = pd.DataFrame(
        {
            "practice_code": np.repeat(codes, 4),
            "achievement_date": np.tile(quarters, len(codes)),
            "register": np.repeat(register, 4),
        }
    )
    for frame in (imms, ld):
        frame.insert(0, "line", np.arange(2, len(frame) + 2))
    return imms, ld, registers


def items_per_row(claims: pd.DataFrame, fees: dict, registers: pd.DataFrame | None) -> int:
    """The same rules one row at a time in Decimal: the baseline."""
    limits = {}
    if registers is not None:
        for row in registers.itertuples(index=False):
            limits[(row.practice_code, row.achievement_date)] = row.register
    cumulative = {}
    total = 0
    for row in claims.sort_values(["practice_code", "achievement_date"]).itertuples(index=False):
        if row.count < 0:
            raise ValueError(row.line)
        if registers is not None:
            key = (row.practice_code, row.component)
            cumulative[key] = cumulative.get(key, 0) + row.count
            if cumulative[key] > limits[(row.practice_code, row.achievement_date)]:
                raise ValueError(f"line {row.line} over the register")
        total += int(Decimal(fees[row.component]) * 100) * row.count
    return total


def network_per_row(practices, memberships, payees, beds) -> int:
    rates = {row.component: row for row in NCD_RATES.itertuples(index=False)}
    day = pd.Timestamp(AS_AT)
    pcn_of = {}
    for row in memberships.itertuples(index=False):
        if pd.Timestamp(row.start_date) <= day and (
            row.end_date is None or pd.Timestamp(row.end_date) >= day
        ):
            pcn_of[row.practice_code] = row.pcn_code
    sums: dict[tuple[str, str], Decimal] = {}
    total = 0
    for row in practices.itertuples(index=False):
        pcn = pcn_of.get(row.practice_code)
        if pcn is None:
            continue
        total += _instalment(rates["network_participation"].rate * Decimal(row.weighted))
        for population in ("registered", "adjusted"):
            sums[(pcn, population)] = sums.get((pcn, population), 0) + Decimal(int(getattr(row, population)))
    for component in ("core_pcn_funding_registered", "core_pcn_funding_adjusted", "enhanced_access"):
        rate = rates[component]
        for (_pcn, population), value in sums.items():
            if population == rate.population:
                total += _instalment(rate.rate * value)
    for row in beds.itertuples(index=False):
        total += int((rates["care_home_premium"].rate * row.beds * 100).quantize(Decimal(1), ROUND_HALF_UP))
    return total


def _instalment(annual_pounds: Decimal) -> int:
    annual = int((annual_pounds * 100).quantize(Decimal(1), ROUND_HALF_UP))
    return annual // 12 if MONTH < 12 else annual - 11 * (annual // 12)


def timed(function, repeat: int):
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    rng = np.random.default_rng(2526)
    practices, memberships, payees, beds = national_inputs()
    imms, ld, registers = immunisation_claims(practices, rng)
    fees = pd.DataFrame(
        {
            "component": [*IMMS_FEES, "health_check"],
            "fee_pence": [fee_pence(fee) for fee in IMMS_FEES.values()] + [fee_pence("140.00")],
            "capped_by_register": [False] * len(IMMS_FEES) + [True],
        }
    )
    pcn_count = memberships["pcn_code"].nunique()
    print(
        f"{len(practices):,} practices, {pcn_count:,} PCNs, {len(imms):,} immunisation, {len(ld):,} LD lines"
    )

    ok = True

    def engine_items():
        return (
            calculate_items(imms, fees).amount_pence.sum()
            + calculate_items(ld, fees, registers).amount_pence.sum()
        )

    def row_items():
        all_fees = {**IMMS_FEES, "health_check": "140.00"}
        return items_per_row(imms, all_fees, None) + items_per_row(ld, all_fees, registers)

    def engine_network():
        return network_contract_month(
            practices=practices, memberships=memberships, payees=payees, rates=NCD_RATES,
            as_at=AS_AT, month=MONTH, care_home_beds=beds,
        )  # fmt: skip

    for name, vectorised, per_row in [
        ("childhood immunisations month + LD year of quarters", engine_items, row_items),
        ("Network Contract DES month", lambda: int(engine_network()["amount_pence"].sum()),
         lambda: network_per_row(practices, memberships, payees, beds)),
    ]:  # fmt: skip
        seconds, total = timed(vectorised, options.repeat)
        baseline, expected = timed(per_row, 1)
        same = int(total) == int(expected)
        met = seconds < TARGET_SECONDS and same
        ok &= met
        print(
            f"{name}: engine {seconds:.3f} s, per-row {baseline:.3f} s ({baseline / seconds:.0f}x); "
            f"£{int(total) / 100:,.2f} {'equal' if same else 'DIFFERENT'} to the per-row total; "
            f"target < {TARGET_SECONDS:.0f} s {'met' if met else 'NOT met'}"
        )
    lines = engine_network()
    to_pcns = lines["practice_code"] == ""
    print(
        f"  NCD lines: {len(lines):,} ({(~to_pcns).sum():,} to practices, "
        f"{to_pcns.sum():,} to {lines.loc[to_pcns, 'payee_code'].nunique():,} nominated payees)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
