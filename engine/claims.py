"""Item-of-service claims in the CQRS field-level extract layout (DOMAIN.md §5, §7a).

A claims file is an extract whose IND_CODE is a component of the service year (the cohort: `health_check`,
`routine_childhood_dose`) and whose fields are `Count` (items given in the period) and, for a component
capped by the register, a field named "… register" (the LD register at the achievement date). The whole
file is validated as an extract is (one service, one month-end date, known practices, whole non-negative
values, one current submission per practice × component) and refused with every bad line named.

The fields come back in the layout `parse_extract` gives (`Extract.fields`), so claims are stored and
superseded as extract submissions are; `claims_from_fields` turns stored current rows back into the claims
and registers `item_of_service.calculate_items` takes.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from .errors import ProblemCollector
from .extract import Extract, _lines, _parse_values, _submitted_at, check_file

COUNT_FIELD = "Count"


def _is_register(names: pd.Index) -> np.ndarray:
    return np.asarray(names.str.lower().str.endswith("register"))


def parse_claims(
    frame: pd.DataFrame,
    *,
    practice_codes,
    components: pd.DataFrame,
    quality_service: str | None = None,
    source: str = "claims",
) -> Extract:
    """Validate a claims file whole. components: component, capped_by_register (bool). Returns an Extract
    whose ``values`` are line (of the Count), practice_code, component, count, register (Int64, blank where
    not sent) and whose ``fields`` are the stored layout; raises InputError naming every bad line."""
    problems = ProblemCollector(source)
    columns, service, date = check_file(frame, practice_codes, quality_service, None, problems)
    organisation, submission = columns["ORG_CODE"], columns["LAST_SUBMISSION"]
    component = columns["IND_CODE"]
    known = set(components["component"])
    bad_component = component.rows_where(
        ~component.categories.isin(list(known)) & (component.categories.str.strip() != "")
    )
    problems.add_rows(
        _lines(bad_component),
        "IND_CODE",
        lambda i: f"{component.value_at(bad_component[i])!r} is not a component of {service}",
    )
    field_name = columns["FIELD_NAME"]
    register_name = _is_register(field_name.categories)
    is_count = np.asarray(field_name.categories == COUNT_FIELD)
    bad_field = field_name.rows_where(~(register_name | is_count) & (field_name.categories.str.strip() != ""))
    problems.add_rows(
        _lines(bad_field),
        "FIELD_NAME",
        lambda i: f"{field_name.value_at(bad_field[i])!r} must be {COUNT_FIELD} or a register field",
    )
    # No Yes/No flag in a claim: every field is a plain whole number.
    value = _parse_values(columns["VALUE"], np.zeros(len(frame), dtype=np.int8), problems)
    problems.raise_if_any()

    current = submission.rows_mask(submission.categories == "Y")
    rows = pd.DataFrame(
        {
            "line": _lines(np.arange(len(frame))),
            "practice_code": organisation.categories.to_numpy()[organisation.codes],
            "component": component.categories.to_numpy()[component.codes],
            "register_field": np.append(register_name, False)[field_name.codes],
            "value": value,
            "current": current,
        }
    )
    live = rows[rows["current"]]
    twice = live.duplicated(["practice_code", "component", "register_field"], keep="first").to_numpy()
    problems.add_rows(
        live["line"].to_numpy()[twice],
        "FIELD_NAME",
        lambda _: "sent twice in the current submission of this practice and component",
    )
    values = _values(live)
    capped = set(components.loc[components["capped_by_register"].astype(bool), "component"])
    claimed = values[values["component"].isin(capped) & values["count"].notna() & values["register"].isna()]
    problems.add_rows(
        claimed["line"].to_numpy(),
        "FIELD_NAME",
        lambda i: f"{claimed['component'].iloc[i]} is capped by the register: the register field is missing",
    )
    no_count = values[values["count"].isna()]
    problems.add_rows(
        no_count["line"].to_numpy(), "FIELD_NAME", lambda _: f"the {COUNT_FIELD} field is missing"
    )
    problems.raise_if_any()

    submitted_at, unreadable = _submitted_at(columns["SUBMIT_DATE"], columns["SUBMIT_TIME"])
    warnings = []
    if unreadable:
        warnings.append(f"{unreadable} row(s) have a submission time that could not be read")
    kept = np.flatnonzero(submission.rows_mask(submission.categories.isin(["Y", "N"])))
    fields = pd.DataFrame(
        {
            "line": _lines(kept),
            "practice_code": pd.Categorical.from_codes(organisation.codes[kept], organisation.categories),
            "indicator_code": pd.Categorical.from_codes(component.codes[kept], component.categories),
            "field_name": pd.Categorical.from_codes(field_name.codes[kept], field_name.categories),
            "value": value[kept],
            "last_submission": current[kept],
            "submitted_at": submitted_at[kept],
        }
    )
    return Extract(service, date, values, warnings, len(frame), fields)


def _values(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per practice × component: its Count, its register (if sent) and the line of its Count."""
    counts = rows[~rows["register_field"]].rename(columns={"value": "count"})
    registers = rows[rows["register_field"]].rename(columns={"value": "register", "line": "register_line"})
    joined = counts[["practice_code", "component", "count", "line"]].merge(
        registers[["practice_code", "component", "register", "register_line"]],
        on=["practice_code", "component"],
        how="outer",
    )
    joined["line"] = joined["line"].fillna(joined["register_line"]).astype(np.int64)
    return pd.DataFrame(
        {
            "line": joined["line"].to_numpy(),
            "practice_code": joined["practice_code"].astype(str).to_numpy(dtype=object),
            "component": joined["component"].astype(str).to_numpy(dtype=object),
            "count": pd.array(joined["count"], dtype="Int64"),
            "register": pd.array(joined["register"], dtype="Int64"),
        }
    ).sort_values("line", ignore_index=True)


def claims_from_fields(fields: pd.DataFrame, achievement_date: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stored current field rows (practice_code, indicator_code, field_name, value) of one achievement date
    as (claims, registers) for `calculate_items`: claims' line is 0, as they come from no file."""
    names = pd.Index(fields["field_name"].astype(str))
    register = _is_register(names)
    when = pd.Timestamp(achievement_date)
    counts = fields[~register]
    claims = pd.DataFrame(
        {
            "line": 0,
            "practice_code": counts["practice_code"].astype(str).to_numpy(dtype=object),
            "achievement_date": when,
            "component": counts["indicator_code"].astype(str).to_numpy(dtype=object),
            "count": counts["value"].to_numpy(dtype=np.int64),
        }
    )
    held = fields[register]
    registers = (
        pd.DataFrame(
            {
                "practice_code": held["practice_code"].astype(str).to_numpy(dtype=object),
                "achievement_date": when,
                "register": held["value"].to_numpy(dtype=np.int64),
            }
        )
        # One register per practice and date, whichever capped component carried it.
        .groupby(["practice_code", "achievement_date"], as_index=False)["register"]
        .max()
    )
    return claims, registers
