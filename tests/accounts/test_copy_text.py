"""The COPY text of each kind of column, as PostgreSQL's text format reads it back."""

from decimal import Decimal

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from accounts.bulk import _copy_text

MISSING = "\\N"


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=50))
def test_every_float_reads_back_exactly(values):
    assert [float(text) for text in _copy_text(pd.Series(values, dtype=float)).to_pylist()] == values


def test_each_kind_of_column_is_written_as_postgresql_reads_it():
    assert _copy_text(pd.Series([0.5, np.nan])).to_pylist() == ["0.5", MISSING]
    assert _copy_text(pd.Series([True, False])).to_pylist() == ["true", "false"]
    assert _copy_text(pd.Series(pd.array([7, None], dtype="Int64"))).to_pylist() == ["7", MISSING]
    assert _copy_text(pd.Series([12, -3], dtype=np.int64)).to_pylist() == ["12", "-3"]
    # JSON escapes a backslash as two; COPY's text format doubles each again.
    assert _copy_text(pd.Series(['["a\\\\b"]', None])).to_pylist() == ['["a\\\\\\\\b"]', MISSING]
    # Objects of mixed kinds are each written as str() writes them.
    assert _copy_text(pd.Series([Decimal("1.50"), "x", 3, None], dtype=object)).to_pylist() == [
        "1.50",
        "x",
        "3",
        MISSING,
    ]
