import pytest


@pytest.fixture(autouse=True)
def one_commissioner_per_chunk(settings, monkeypatch):
    """The calculation tests' small trees hold a few practices per commissioner: one chunk per commissioner
    gives their runs several chunks (a chunk failing among others, a fault mid-run), as a national run has.
    The environment carries it to real workers started by the test."""
    settings.CALCULATION_CHUNK_PRACTICES = 1
    monkeypatch.setenv("CALCULATION_CHUNK_PRACTICES", "1")
