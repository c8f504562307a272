"""The SQL files that hold every rule: read them by name, or run them."""

from importlib.resources import files

import duckdb


def read_sql(name: str) -> str:
    """Text of `sitegen/sql/<name>`."""
    return files(__package__).joinpath(name).read_text(encoding="utf-8")


def run_sql(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Run every statement of `sitegen/sql/<name>`, finishing its result so that the
    connection is free for the next query."""
    con.execute(read_sql(name)).fetchall()
