"""Builders of small CQRS extracts for the engine tests."""

from __future__ import annotations

HEADER = (
    "QUALITY_SERVICE,NAME,ORG_CODE,ACH_DATE,IND_CODE,FIELD_NAME,VALUE,DEFAULT_VALUES_USED,"
    "SUBMIT_USER_ID,SUBMIT_DATE,SUBMIT_TIME,LAST_SUBMISSION"
)


def extract_row(
    practice="A10001",
    indicator="AF006",
    field="Numerator",
    value="5",
    last="Y",
    service="QOF2324",
    date="20240331",
    name="Quality and Outcomes Framework 2023/24",
) -> str:
    submission = f"None,AUTOMATED,02/04/2024,11:19:50,{last}"
    return f"{service},{name},{practice},{date},{indicator},{field},{value},{submission}"


def valid_rows(practice="A10001") -> list[str]:
    """A small complete extract for one practice: a register, a percentage indicator and a manual answer."""
    return [
        extract_row(practice, "AF001", "Atrial Fibrillation Register", "40"),
        extract_row(practice, "AF006", "Atrial Fibrillation Register", "40"),
        extract_row(practice, "AF006", "Numerator", "30"),
        extract_row(practice, "AF006", "Denominator", "35"),
        extract_row(practice, "AF006", "AFIBINV1", "3"),
        extract_row(practice, "AF006", "AFIBPCADEC", "2"),
        extract_row(practice, "AF006", "DIAG1_DAT", "4"),
        extract_row(practice, "QI013", "Yes/No Flag", "1"),
    ]
