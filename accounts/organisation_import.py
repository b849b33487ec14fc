"""Reading NHS Digital's practice → PCN → sub-ICB → ICB → region mapping (QOF_MANUAL_MAPPINGS.csv).

Validation happens here, before anything is written, so that a bad file is rejected as a whole with the
line number and column of every problem.
"""

import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .organisation_types import OrganisationType as T

COLUMNS = [
    "PRACTICE_CODE", "PRACTICE_NAME", "PCN_ODS_CODE", "PCN_NAME", "CCG_ODS_CODE", "CCG_ONS_CODE", "CCG_NAME",
    "STP_ODS_CODE", "STP_ONS_CODE", "STP_NAME", "REGION_ODS_CODE", "REGION_ONS_CODE", "REGION_NAME",
    "NAT_CODE", "NAT_ONS_CODE", "NAT_COUNTRY",
]  # fmt: skip

# (type, code column, name column, ONS code column, parent's code column), top of the tree first.
LEVELS = [
    (T.NATIONAL, "NAT_CODE", "NAT_COUNTRY", "NAT_ONS_CODE", None),
    (T.REGION, "REGION_ODS_CODE", "REGION_NAME", "REGION_ONS_CODE", "NAT_CODE"),
    (T.ICB, "STP_ODS_CODE", "STP_NAME", "STP_ONS_CODE", "REGION_ODS_CODE"),
    (T.SUB_ICB, "CCG_ODS_CODE", "CCG_NAME", "CCG_ONS_CODE", "STP_ODS_CODE"),
    (T.PRACTICE, "PRACTICE_CODE", "PRACTICE_NAME", None, "CCG_ODS_CODE"),
]

# NHS Digital's placeholder for "in no PCN": such practices get no PCN membership, not a PCN called "U".
UNALLOCATED_PCN = "U"


class OrganisationFileError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class OrganisationRow:
    code: str
    name: str
    type: str
    parent_code: str | None
    ons_code: str = ""


@dataclass
class OrganisationMapping:
    organisations: list[OrganisationRow] = field(default_factory=list)
    practice_pcn: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def read_mapping(path: Path) -> OrganisationMapping:
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    return parse_mapping(text)


def parse_mapping(text: str) -> OrganisationMapping:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    problems: list[str] = []
    if header is None:
        raise OrganisationFileError(["line 1: the file is empty"])
    header = [name.strip() for name in header]
    unknown = [name for name in header if name not in COLUMNS]
    missing = [name for name in COLUMNS if name not in header]
    if unknown:
        problems.append(f"line 1: unknown column {', '.join(unknown)}")
    if missing:
        problems.append(f"line 1: missing column {', '.join(missing)}")
    if problems:
        raise OrganisationFileError(problems)

    seen: dict[tuple[str, str], tuple[int, OrganisationRow]] = {}
    pcn_rows: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    practice_pcn: dict[str, str] = {}
    for line_number, values in enumerate(reader, start=2):
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            problems.append(f"line {line_number}: expected {len(header)} fields, found {len(values)}")
            continue
        row = {name: value.strip() for name, value in zip(header, values, strict=True)}
        for column in ("PRACTICE_CODE", "PRACTICE_NAME", "PCN_ODS_CODE", "CCG_ODS_CODE", "STP_ODS_CODE",
                       "REGION_ODS_CODE", "NAT_CODE"):  # fmt: skip
            if not row[column]:
                problems.append(f"line {line_number}, {column}: missing code")
        if any(
            not row[c]
            for c in ("PRACTICE_CODE", "CCG_ODS_CODE", "STP_ODS_CODE", "REGION_ODS_CODE", "NAT_CODE")
        ):
            continue
        if (T.PRACTICE, row["PRACTICE_CODE"]) in seen:
            first_line = seen[(T.PRACTICE, row["PRACTICE_CODE"])][0]
            problems.append(
                f"line {line_number}, PRACTICE_CODE: duplicate practice {row['PRACTICE_CODE']} "
                f"(first on line {first_line})"
            )
            continue
        for level_type, code_column, name_column, ons_column, parent_column in LEVELS:
            candidate = OrganisationRow(
                code=row[code_column],
                name=row[name_column] or row[code_column],
                type=level_type,
                parent_code=row[parent_column] if parent_column else None,
                ons_code=row[ons_column] if ons_column else "",
            )
            previous = seen.get((level_type, candidate.code))
            if previous is None:
                seen[(level_type, candidate.code)] = (line_number, candidate)
            elif previous[1] != candidate:
                problems.append(
                    f"line {line_number}, {code_column}: {candidate.code} disagrees with line {previous[0]} "
                    f"(name, ONS code or parent differ)"
                )
        if row["PCN_ODS_CODE"] and row["PCN_ODS_CODE"] != UNALLOCATED_PCN:
            pcn_rows[row["PCN_ODS_CODE"]].append((line_number, row["PCN_NAME"], row["CCG_ODS_CODE"]))
            practice_pcn[row["PRACTICE_CODE"]] = row["PCN_ODS_CODE"]

    codes_by_type = defaultdict(set)
    for level_type, code in seen:
        codes_by_type[code].add(level_type)
    for code, types in codes_by_type.items():
        if len(types) > 1:
            problems.append(
                f"code {code} is used for more than one kind of organisation: {', '.join(sorted(types))}"
            )

    organisations = [row for _, row in seen.values()]
    warnings = []
    for pcn_code, rows in pcn_rows.items():
        # NHS Digital's own file names one PCN two ways (U08803); the most used name wins, and we say so.
        name_counts = Counter(name for _, name, _ in rows)
        name = min(name_counts, key=lambda candidate: (-name_counts[candidate], candidate))
        if len(name_counts) > 1:
            warnings.append(f"PCN {pcn_code} is named {len(name_counts)} ways; using {name!r}")
        if pcn_code in codes_by_type:
            problems.append(
                f"line {rows[0][0]}, PCN_ODS_CODE: {pcn_code} is also the code of another organisation"
            )
        # A few PCNs span sub-ICB locations; they hang off the one with most of their practices.
        sub_icb_counts = Counter(sub_icb for _, _, sub_icb in rows)
        parent = min(sub_icb_counts, key=lambda code: (-sub_icb_counts[code], code))
        organisations.append(
            OrganisationRow(code=pcn_code, name=name or pcn_code, type=T.PCN, parent_code=parent)
        )

    if problems:
        raise OrganisationFileError(
            problems[:100] + ([f"… and {len(problems) - 100} more"] if len(problems) > 100 else [])
        )
    if not any(row.type == T.PRACTICE for row in organisations):
        raise OrganisationFileError(["the file holds no practices"])
    return OrganisationMapping(organisations=organisations, practice_pcn=practice_pcn, warnings=warnings)
