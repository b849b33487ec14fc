"""Synthetic but plausible QOF 2023/24 year-end extracts in the real CQRS layout, for the demo and benchmarks.

The field layout of each indicator (which register, PCA and exclusion fields it carries) is the one of a
real practice in NHS Digital's worked example, shipped as fixtures/reference/qof_2023_24_extract_layout.csv.
Registers follow prevalence × list size, and numerator ≤ denominator, so the extract passes validation.
No Django here: the benchmark imports it without setting Django up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .extract import EXTRACT_COLUMNS

LAYOUT = Path(__file__).resolve().parents[1] / "fixtures" / "reference" / "qof_2023_24_extract_layout.csv"


def list_sizes(n_practices: int, rng: np.random.Generator) -> np.ndarray:
    return np.clip(rng.lognormal(np.log(9000), 0.5, n_practices), 1000, 80000).astype(np.int64)


def year_end_extract(
    practice_codes,
    *,
    seed: int = 2324,
    list_size: np.ndarray | None = None,
    submitted: str = "02/04/2024",
    layout: Path = LAYOUT,
) -> pd.DataFrame:
    """The QOF 2023/24 year-end extract of these practices: one row per practice × indicator × field."""
    rng = np.random.default_rng(seed)
    codes = np.asarray(practice_codes)
    n = len(codes)
    list_size = list_sizes(n, rng) if list_size is None else list_size
    template = pd.read_csv(layout, dtype=str, keep_default_na=False)
    group = template["IND_CODE"].str.extract(r"^([A-Z]+)", expand=False)
    n_fields = len(template)

    # One register per practice × group (registers ~ prevalence × list size), shared by all its indicators.
    groups = pd.Index(group.unique())
    prevalence = rng.uniform(0.004, 0.15, len(groups))
    registers = rng.binomial(list_size[:, None], prevalence[None, :])
    field = template["FIELD_NAME"].to_numpy()
    is_register = np.char.endswith(np.char.lower(field.astype(str)), "register")
    register = registers[:, groups.get_indexer(group)]
    # Numerator and denominator of one indicator must pair up: draw per indicator, then broadcast.
    indicator = pd.Index(template["IND_CODE"].unique())
    indicator_position = indicator.get_indexer(template["IND_CODE"])
    group_of_indicator = groups.get_indexer(indicator.str.extract(r"^([A-Z]+)")[0])
    denominator = (registers[:, group_of_indicator] * 0.8).astype(np.int64)[:, indicator_position]
    numerator = rng.binomial(denominator, rng.uniform(0.3, 1.0, (n, len(indicator)))[:, indicator_position])
    value = rng.integers(0, 25, (n, n_fields))
    value = np.where(is_register, register, value)
    value = np.where(field == "Denominator", denominator, value)
    value = np.where(field == "Numerator", numerator, value)
    value = np.where(field == "Yes/No Flag", rng.random((n, n_fields)) < 0.9, value)

    return pd.DataFrame(
        {
            "QUALITY_SERVICE": "QOF2324",
            "NAME": "Quality and Outcomes Framework 2023/24",
            "ORG_CODE": np.repeat(codes, n_fields),
            "ACH_DATE": "20240331",
            "IND_CODE": np.tile(template["IND_CODE"].to_numpy(), n),
            "FIELD_NAME": np.tile(field, n),
            "VALUE": value.ravel().astype(np.int64),
            "DEFAULT_VALUES_USED": "None",
            "SUBMIT_USER_ID": "AUTOMATED",
            "SUBMIT_DATE": submitted,
            "SUBMIT_TIME": "11:19:50",
            "LAST_SUBMISSION": "Y",
        },
        columns=list(EXTRACT_COLUMNS),
    )


def write_extract(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False, lineterminator="\r\n")
    return path
