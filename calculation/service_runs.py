"""The work of a run of a service not paid in points (docs/adr/0015-service-kinds.md), beside the QOF
pipeline: read the year's claims or populations, call the engine, write `ServiceLine` rows and one
`PracticeResult` per payee (its total, no points), so that publication, declarations and reports handle
every kind through the same rows. Such a run is national and has no commissioner chunks: a month of
childhood immunisations for England is a few tens of thousands of lines, calculated in well under a second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from accounts.models import Organisation, OrganisationType
from engine.capitation import network_contract_month, population_to_decimal
from engine.claims import claims_from_fields
from engine.item_of_service import calculate_items
from engine.network import members_as_at
from engine.network_points import calculate_network_points
from engine.periods import month_of_year
from engine.rounding import format_hundredths
from extracts.models import Extract
from extracts.selectors import current_extract_values
from extracts.store import current_field_rows
from participation.models import ServiceYear
from participation.selectors import capitation_rates_frame, engine_ruleset, fees_frame

from .models import CalculationRun, PracticeListSize, PracticeResult, ServiceLine
from .pipeline import CalculationInputError, cpi_list_date, insert_frame, latest_list_sizes, practices_frame
from .services import memberships_frame, payees_frame, taking_part_on

Kind = ServiceYear.PaymentKind


def is_service_run(run: CalculationRun) -> bool:
    return run.service_year.payment_kind != Kind.POINTS


def calculate_service_run(run: CalculationRun) -> int:
    """Calculate and write the run's lines and payee totals; returns how many lines. Inside the caller's
    transaction: a failure leaves nothing."""
    kind = run.service_year.payment_kind
    if kind == Kind.ITEM_OF_SERVICE:
        lines = item_of_service_lines(run)
    elif kind == Kind.CAPITATION:
        lines = capitation_lines(run)
    elif kind == Kind.NETWORK_POINTS:
        lines = network_points_lines(run)
    else:  # participation only: nothing is paid, so nothing to write
        return 0
    ServiceLine.objects.filter(run=run).delete()
    PracticeResult.objects.filter(run=run).delete()
    insert_frame(ServiceLine, lines.drop(columns=["amount_pence", "points_hundredths"]))
    insert_frame(PracticeResult, _declarer_totals(run, lines))
    return len(lines)


def _organisation_ids(types: list[str]) -> dict[str, int]:
    return dict(Organisation.objects.filter(type__in=types).values_list("code", "pk"))


def item_of_service_lines(run: CalculationRun) -> pd.DataFrame:
    """This date's claims × fees. The year's earlier claims are read too, because a capped component's
    cumulative count is judged against the register at every date (refused by line, as on loading)."""
    year = run.service_year
    fees, _ = fees_frame(year)
    dates = sorted(
        set(
            Extract.objects.filter(service_year=year, achievement_date__lte=run.achievement_date).values_list(
                "achievement_date", flat=True
            )
        )
    )
    claims, registers = [], []
    for on in dates:
        held_claims, held_registers = claims_from_fields(
            current_field_rows(service_year_id=year.pk, achievement_date=on), on
        )
        claims.append(held_claims)
        registers.append(held_registers)
    if not claims or not len(claims[-1]) or dates[-1] != run.achievement_date:
        raise CalculationInputError(f"no extract values for {year.code} on {run.achievement_date}")
    paid = calculate_items(
        pd.concat(claims, ignore_index=True),
        fees,
        pd.concat(registers, ignore_index=True),
        source=f"claims held for {year.code}",
    )
    paid = paid[paid["achievement_date"] == pd.Timestamp(run.achievement_date)]
    ids = _organisation_ids([OrganisationType.PRACTICE])
    practice_ids = paid["practice_code"].map(ids).to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "run_id": run.pk,
            "payee_id": practice_ids,
            "practice_id": practice_ids,
            "pcn_id": None,
            "component": paid["component"].to_numpy(dtype=object),
            "count": paid["count"].to_numpy(dtype=np.int64),
            "fee": format_hundredths(paid["fee_pence"].to_numpy(dtype=np.int64)),
            "population": None,
            "annual": None,
            "amount": format_hundredths(paid["amount_pence"].to_numpy(dtype=np.int64)),
            "amount_pence": paid["amount_pence"].to_numpy(dtype=np.int64),
            "points_hundredths": 0,  # no points: for the declarer's total, as network_points_lines
        }
    )


def populations_frame(year: ServiceYear, practice_codes) -> pd.DataFrame:
    """practice_code, registered, weighted, adjusted at 1 January before the year, for these practices; a
    practice without all three refuses the run by name (paying on a guessed list would be wrong money)."""
    on = cpi_list_date(year)
    rows = PracticeListSize.objects.filter(list_date=on, practice__code__in=list(practice_codes)).values_list(
        "practice__code", "registered_patients", "weighted_patients", "adjusted_patients"
    )
    frame = pd.DataFrame.from_records(
        list(rows), columns=["practice_code", "registered", "weighted", "adjusted"]
    )
    complete = frame.dropna()
    missing = sorted(set(practice_codes) - set(complete["practice_code"]))
    if missing:
        raise CalculationInputError(
            f"no list size for {len(missing)} practice(s) in a PCN: no registered, weighted and adjusted "
            f"population at {on:%-d %B %Y} for {', '.join(missing[:10])}"
        )
    return complete.astype({"registered": np.int64})


def capitation_lines(run: CalculationRun) -> pd.DataFrame:
    """One month of the Network Contract DES as at the run's date: each participating member practice's own
    components, and each PCN's on its participating members' summed lists as at the date, to the payee
    nominated on that date (if it takes part)."""
    year, on = run.service_year, run.achievement_date
    rates, _ = capitation_rates_frame(year)
    memberships, payees = taking_part_on(year, on)
    members = memberships[
        (pd.to_datetime(memberships["start_date"]) <= pd.Timestamp(on))
        & (memberships["end_date"].isna() | (pd.to_datetime(memberships["end_date"]) >= pd.Timestamp(on)))
    ]
    if members.empty:
        raise CalculationInputError(f"no member of a PCN takes part in {year.code} on {on:%-d %B %Y}")
    try:
        paid = network_contract_month(
            practices=populations_frame(year, sorted(set(members["practice_code"]))),
            memberships=memberships,
            payees=payees,
            rates=rates,
            as_at=on,
            month=month_of_year(year.financial_year, on),
            hold_without_payee=True,
        )
    except ValueError as error:
        raise CalculationInputError(str(error)) from error
    ids = _organisation_ids([OrganisationType.PRACTICE, OrganisationType.PCN])
    practice = paid["practice_code"].replace("", None).map(ids)
    return pd.DataFrame(
        {
            "run_id": run.pk,
            "payee_id": paid["payee_code"].map(ids).to_numpy(dtype=np.int64),
            "practice_id": pd.array(practice, dtype="Int64"),
            "pcn_id": paid["pcn_code"].map(ids).to_numpy(dtype=np.int64),
            "component": paid["component"].to_numpy(dtype=object),
            "count": None,
            "fee": None,
            "population": population_to_decimal(paid["population_e4"]),
            "annual": format_hundredths(paid["annual_pence"].to_numpy(dtype=np.int64)),
            "amount": format_hundredths(paid["amount_pence"].to_numpy(dtype=np.int64)),
            "amount_pence": paid["amount_pence"].to_numpy(dtype=np.int64),
            "points_hundredths": 0,  # no points: for the declarer's total, as network_points_lines
        }
    )


def network_points_lines(run: CalculationRun) -> pd.DataFrame:
    """Points at PCN level (the Investment and Impact Fund, ADR 0019): the members' current extract values
    summed to the PCN each was in on the run's date, points per PCN × indicator and their money, paid to
    the payee nominated on that date. A PCN with no payee on the date is held back (Awaiting Network
    Achievement, ADR 0018); the national figures of the adjustments still count it."""
    year, on = run.service_year, run.achievement_date
    ruleset = engine_ruleset(year)
    values = current_extract_values(service_year=year, achievement_date=on, ruleset=ruleset)
    if values.empty:
        raise CalculationInputError(f"no extract values for {year.code} on {on}")
    memberships = memberships_frame(on)
    try:
        codes = sorted(set(values["practice_code"]) & set(members_as_at(memberships, on)["practice_code"]))
        if not codes:
            raise CalculationInputError(f"no practice with extract values is in a PCN on {on:%-d %B %Y}")
        practices = practices_frame(run, codes).rename(columns={"list_size_cpi": "list_size"})
        result = calculate_network_points(
            ruleset=ruleset,
            values=values[values["practice_code"].isin(codes)],
            practices=practices,
            memberships=memberships,
            payees=payees_frame(on),
            point_value=year.point_value,
            as_at=on,
            hold_without_payee=True,
        )
    except ValueError as error:
        raise CalculationInputError(str(error)) from error
    paid = result.lines
    ids = _organisation_ids([OrganisationType.PRACTICE, OrganisationType.PCN])
    return pd.DataFrame(
        {
            "run_id": run.pk,
            "payee_id": paid["payee_code"].map(ids).to_numpy(dtype=np.int64),
            "practice_id": pd.array([None] * len(paid), dtype="Int64"),
            "pcn_id": paid["pcn_code"].map(ids).to_numpy(dtype=np.int64),
            "component": paid["indicator_code"].to_numpy(dtype=object),
            "count": None,
            "fee": None,
            "population": paid["list_size"].astype(str).to_numpy(dtype=object),
            "annual": None,
            "numerator": paid["numerator"].to_numpy(dtype=np.int64),
            "denominator": paid["denominator"].to_numpy(dtype=np.int64),
            "points": format_hundredths(paid["points_hundredths"].to_numpy(dtype=np.int64)),
            "amount": format_hundredths(paid["payment_pence"].to_numpy(dtype=np.int64)),
            "amount_pence": paid["payment_pence"].to_numpy(dtype=np.int64),
            "points_hundredths": paid["points_hundredths"].to_numpy(dtype=np.int64),
        }
    )


def _declarer_totals(run: CalculationRun, lines: pd.DataFrame) -> pd.DataFrame:
    """One PracticeResult per organisation that declares: each practice for its own lines, and each PCN for
    its aggregate (the lines paid to its nominated payee), so that the PCN's declaration is its own and a
    change to the aggregate reverts it without touching its members' (ADR 0018). The sums of the lines'
    points (the IIF's; none for other kinds) and money, and the registered lists where held (a PCN has
    none: 0)."""
    declarer = lines["practice_id"].astype("Int64").fillna(lines["pcn_id"].astype("Int64"))
    by_declarer = lines.assign(declarer_id=declarer.astype(np.int64)).groupby("declarer_id")
    pence = by_declarer["amount_pence"].sum()
    points = by_declarer["points_hundredths"].sum().to_numpy(dtype=np.int64)
    codes = dict(Organisation.objects.filter(pk__in=pence.index.tolist()).values_list("pk", "code"))
    sizes = latest_list_sizes(
        {"cpi": cpi_list_date(run.service_year), "on": run.achievement_date}, list(codes.values())
    ).set_index("practice_id")
    payees = pence.index.to_numpy(dtype=np.int64)

    def size(column: str) -> np.ndarray:
        if sizes.empty:
            return np.zeros(len(payees), dtype=np.int64)
        return sizes[column].reindex(payees).fillna(0).to_numpy(dtype=np.int64)

    return pd.DataFrame(
        {
            "run_id": run.pk,
            "practice_id": payees,
            "indicator_run_id": run.pk,
            # A list the service does not pay on is shown when held, else 0 (the column is required).
            "list_size_cpi": size("cpi"),
            "list_size_prevalence": size("on"),
            "points": format_hundredths(points),
            "payment": format_hundredths(pence.to_numpy()),
            "aspiration_annual": None,
            "aspiration_monthly": None,
            "aspiration_last_month": None,
        }
    )
