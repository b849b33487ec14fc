from __future__ import annotations

from pathlib import Path

import pytest

from engine import readers
from tests.engine.engine_extract_helpers import HEADER

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ruleset():
    return readers.load_ruleset(REPO / "fixtures" / "reference" / "qof_2023_24_indicators.csv")


@pytest.fixture(scope="session")
def pca_codes():
    return readers.load_pca_codes()


@pytest.fixture
def write_extract(tmp_path):
    """Write rows under the header; returns the path. Encoding and line ends are the test's to choose."""

    def write(rows: list[str], *, encoding="utf-8", newline="\r\n", header=HEADER, name="values.csv") -> Path:
        path = tmp_path / name
        path.write_bytes(newline.join([header, *rows, ""]).encode(encoding))
        return path

    return write


@pytest.fixture
def parse(ruleset, pca_codes):
    def parse_file(path: Path, practices=("A10001", "A10002"), **kwargs):
        return readers.read_extract(
            path, practice_codes=set(practices), ruleset=ruleset, pca_codes=pca_codes, **kwargs
        )

    return parse_file
