"""The SQL files that hold every rule: read them by name."""

from importlib.resources import files


def read_sql(name: str) -> str:
    """Text of `sitegen/sql/<name>`."""
    return files(__package__).joinpath(name).read_text(encoding="utf-8")
