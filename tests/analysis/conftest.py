"""Fixtures of the analysis tests: a synthetic pair of scans (see ``analysis_synthetic.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from analysis import db
from tests.analysis.analysis_synthetic import SyntheticScans, write_synthetic


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> SyntheticScans:
    """Two scans, one month apart, a few dozen domains, written as Parquet."""
    return write_synthetic(tmp_path_factory.mktemp("scans"))


@pytest.fixture()
def con(synthetic: SyntheticScans) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection over both synthetic scans (through their parent directory)."""
    connection = db.connect([synthetic.root])
    yield connection
    connection.close()


@pytest.fixture()
def scan_root(synthetic: SyntheticScans) -> Path:
    return synthetic.root
