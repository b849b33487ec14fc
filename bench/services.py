"""National monthly runs of the services beyond QOF (issue 10): childhood immunisations (item of service,
with the quarterly LD health check and its register cap) and the Network Contract DES (capitation to
practices and PCN nominated payees).

    uv run python bench/services.py [--repeat N]
    DATABASE_URL=postgres://…/cqrs_bench_services REDIS_URL=redis://…/3 uv run python bench/services.py --runs

Inputs are synthetic but national in shape: the 6,410 real 2023/24 practice codes and their real PCNs from
shared/qof_data (practices in no PCN, "U" codes aside), list sizes drawn as engine.synthetic draws them, and
200 practices moving PCN mid-year. Each engine run is timed against a per-row pure-Python (Decimal) version
of the same rules measured in this run, and their payments are compared penny for penny.

With --runs, the same national month goes through the portal as it is paid: the claims loaded as an extract
into a scratch PostgreSQL database (created when missing; the national mapping, rulesets, populations,
memberships with the 200 moves and payees are loaded the first time), then a childhood-immunisation run and
a Network Contract DES run, each from `start_run` to published with one Celery worker, against the engine
alone on the same inputs in the same process as the baseline.
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
    parser.add_argument("--runs", action="store_true", help="through calculation runs with one worker")
    options = parser.parse_args()
    if options.runs:
        return through_runs(options.repeat)
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


# ---- Through calculation runs (--runs) ------------------------------------------------------------------

RUN_DATE = date(2024, 10, 31)  # CHILDIMMS2425 and NCD2425, month 7, after the moves
MEMBERSHIP_START = date(2019, 7, 1)


def through_runs(repeat: int) -> int:
    import os
    import uuid

    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        sys.exit("set DATABASE_URL (PostgreSQL) and REDIS_URL: --runs uses a real worker")
    sys.path.insert(0, str(REPO / "bench"))
    from national import Workers, participate_everyone
    from scratch_database import ensure_database

    ensure_database(os.environ["DATABASE_URL"])
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    os.environ["CELERY_QUEUE"] = queue
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cqrs_portal.settings")
    import django

    django.setup()
    from calculation.models import ServiceLine
    from cqrs_portal.celery import app
    from participation.models import ServiceYear

    app.conf.task_default_queue = queue
    practices, memberships, payees, _ = national_inputs()
    imms = _prepare_database(practices, memberships, payees, participate_everyone)
    imms_year = ServiceYear.objects.get(code="CHILDIMMS2425")
    network_year = ServiceYear.objects.get(code="NCD2425")
    from participation.selectors import capitation_rates_frame, fees_frame

    fees, _ = fees_frame(imms_year)
    rates, _ = capitation_rates_frame(network_year)
    workers = Workers(queue)
    workers.start(1)
    ok = True
    try:
        for name, year, engine_only in [
            ("childhood immunisations month", imms_year, lambda: calculate_items(imms, fees)),
            ("Network Contract DES month", network_year, lambda: network_contract_month(
                practices=practices, memberships=memberships, payees=payees, rates=rates, as_at=RUN_DATE,
                month=MONTH)),
        ]:  # fmt: skip
            seconds = min(_timed_run(year) for _ in range(repeat))
            baseline, _ = timed(engine_only, repeat)
            run_lines = ServiceLine.objects.filter(run__service_year=year, run__publications__isnull=False)
            met = seconds < TARGET_SECONDS
            ok &= met
            print(
                f"{name} through a run, one worker: {seconds:.2f} s ({run_lines.count():,} lines published); "
                f"engine alone on the same inputs {baseline:.2f} s; "
                f"target < {TARGET_SECONDS:.0f} s {'met' if met else 'NOT met'}"
            )
    finally:
        workers.stop()
    return 0 if ok else 1


def _timed_run(year) -> float:
    from django.db import transaction

    from calculation import actions, tasks
    from calculation.models import CalculationRun

    started = time.perf_counter()
    with transaction.atomic():
        run = actions.start_run(service_year=year, achievement_date=RUN_DATE, by=None, reason="Benchmark")
        tasks.queue_run(run)
    while True:
        run.refresh_from_db()
        if run.is_finished:
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    if run.status != CalculationRun.Status.PUBLISHED:
        sys.exit(f"run {run.pk} {run.status}: {run.error}")
    return seconds


def _prepare_database(practices, memberships, payees, participate_everyone) -> pd.DataFrame:
    """Load what the runs read, once; returns this month's immunisation claims (as the engine takes them)."""
    import tempfile

    from django.core.management import call_command

    from accounts import actions as account_actions
    from accounts.models import Organisation, OrganisationType, PcnMembership
    from accounts.organisation_import import read_mapping
    from calculation.models import PracticeListSize
    from extracts.actions import load_extract
    from extracts.models import Extract
    from participation.models import NominatedPayee, ServiceYear

    call_command("migrate", verbosity=0)
    if not Organisation.objects.filter(type=OrganisationType.PRACTICE).exists():
        print("importing the national organisation mapping…")
        mapping = REPO / "fixtures" / "organisations" / "qof_manual_mappings_2023_24.csv"
        account_actions.import_organisations(
            mapping=read_mapping(mapping), effective_date=MEMBERSHIP_START, by=None
        )
    call_command("load_rulesets", verbosity=0)
    # A practice is paid the Network Contract DES only while it also takes part in the year (ADR 0018).
    participate_everyone(ServiceYear.objects.get(code="NCD2425"))
    ids = dict(Organisation.objects.values_list("code", "pk"))
    known = practices[practices["practice_code"].isin(list(ids))].reset_index(drop=True)
    if not NominatedPayee.objects.exists():
        print("loading populations, the 200 moves and the payees…")
        PracticeListSize.objects.bulk_create(
            [
                PracticeListSize(
                    practice_id=ids[row.practice_code], list_date=date(2024, 1, 1),
                    registered_patients=int(row.registered), weighted_patients=Decimal(row.weighted),
                    adjusted_patients=int(row.adjusted),
                )
                for row in known.itertuples(index=False)
            ],
            batch_size=5000, update_conflicts=True, unique_fields=["practice", "list_date"],
            update_fields=["registered_patients", "weighted_patients", "adjusted_patients"],
        )  # fmt: skip
        moved = memberships[pd.to_datetime(memberships["start_date"]) > pd.Timestamp(MEMBERSHIP_START)]
        codes = [code for code in moved["practice_code"] if code in ids]
        PcnMembership.objects.filter(practice__code__in=codes, end_date__isnull=True).update(
            end_date=date(2024, 9, 30)
        )
        PcnMembership.objects.bulk_create(
            [
                PcnMembership(
                    practice_id=ids[row.practice_code], pcn_id=ids[row.pcn_code], start_date=row.start_date
                )
                for row in moved.itertuples(index=False)
                if row.practice_code in ids and row.pcn_code in ids
            ]
        )
        held = dict(
            PcnMembership.objects.filter(end_date__isnull=True).values_list("pcn__code", "practice__code")
        )
        NominatedPayee.objects.bulk_create(
            [
                NominatedPayee(pcn_id=ids[pcn], payee_id=ids[payee], start_date=MEMBERSHIP_START)
                for pcn, payee in zip(payees["pcn_code"], payees["payee_code"], strict=True)
                if pcn in ids and payee in ids
            ]
        )
        # A payee that moved away is replaced by a member that stayed, from the move.
        for pcn, payee in zip(payees["pcn_code"], payees["payee_code"], strict=True):
            if pcn in ids and payee in codes and pcn in held:
                NominatedPayee.objects.filter(pcn_id=ids[pcn]).update(end_date=date(2024, 9, 30))
                NominatedPayee.objects.create(
                    pcn_id=ids[pcn], payee_id=ids[held[pcn]], start_date=date(2024, 10, 1)
                )
    year = ServiceYear.objects.get(code="CHILDIMMS2425")
    rng = np.random.default_rng(2425)
    counts = rng.poisson(known["registered"].to_numpy() * 9 / 1000)
    imms = pd.DataFrame(
        {
            "line": np.arange(2, len(known) + 2),
            "practice_code": known["practice_code"].to_numpy(),
            "achievement_date": pd.Timestamp(RUN_DATE),
            "component": "routine_childhood_dose",
            "count": counts,
        }
    )
    if not Extract.objects.filter(service_year=year, achievement_date=RUN_DATE).exists():
        participate_everyone(year)
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "CHILDIMMS2425_20241031.csv"
            with path.open("w") as handle:
                handle.write(
                    "QUALITY_SERVICE,NAME,ORG_CODE,ACH_DATE,IND_CODE,FIELD_NAME,VALUE,DEFAULT_VALUES_USED,"
                    "SUBMIT_USER_ID,SUBMIT_DATE,SUBMIT_TIME,LAST_SUBMISSION\r\n"
                )
                for code, count in zip(imms["practice_code"], imms["count"], strict=True):
                    handle.write(
                        f"CHILDIMMS2425,Childhood immunisations,{code},20241031,routine_childhood_dose,Count,"
                        f"{count},,BENCH,05/11/2024,09:00:00,Y\r\n"
                    )
            started = time.perf_counter()
            load_extract(path=path, file_name=path.name, by=None, service_year=year)
            print(f"national claims file loaded in {time.perf_counter() - started:.1f} s")
    return imms


if __name__ == "__main__":
    sys.exit(main())
