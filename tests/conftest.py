"""Shared fixtures: a copy of the tiny project under tests/fixtures/mini for each test."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import pytest

from sitegen.load import LoadSummary, load_project

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = date(2026, 11, 22)
HEADER = "partner_id,kpi_id,period,value,numerator,denominator\n"


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    """A writable copy of the mini project (3 partners, 5 KPIs, 6 metric rows)."""
    target = tmp_path / "mini"
    shutil.copytree(FIXTURES / "mini", target)
    return target


Loader = Callable[[], tuple[duckdb.DuckDBPyConnection, LoadSummary]]


@pytest.fixture
def load(mini: Path) -> Loader:
    """Load the mini project as it is on disk when called."""

    def run() -> tuple[duckdb.DuckDBPyConnection, LoadSummary]:
        con = duckdb.connect()
        return con, load_project(con, mini / "data", "data", TODAY)

    return run
