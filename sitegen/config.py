"""Read and validate `sitegen.toml`.

Every key is optional and has a default. All problems are collected in one pass so that a user
fixes the file once, and each message names the file and the key (`[site] grain`), with a
"did you mean" hint for misspelt keys.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sitegen import periods
from sitegen.errors import ConfigError
from sitegen.periods import KINDS
from sitegen.reading import printable

CONFIG_NAME = "sitegen.toml"
MAX_CONFIG = 1 << 20  # bytes

EMAIL_RE = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[A-Za-z]{2,}$")


@dataclass(frozen=True)
class SiteConfig:
    title: str = "Partner scorecards"
    organization: str = "Alliance"
    grain: str = "month"
    period: str = "latest"
    base_url: str = ""


@dataclass(frozen=True)
class DataConfig:
    dir: str = "data"


@dataclass(frozen=True)
class StatusConfig:
    amber_band: float = 0.05
    min_denominator: int = 11


@dataclass(frozen=True)
class PdfConfig:
    enabled: bool = True
    paper: str = "us-letter"


@dataclass(frozen=True)
class ReviewConfig:
    every: str = "quarter"  # how often the alliance reviews: what "since the last review" means


@dataclass(frozen=True)
class EmailConfig:
    sender: str = ""
    smtp_host: str = "localhost"
    smtp_port: int = 25
    starttls: bool = False
    username_env: str = "SITEGEN_SMTP_USER"
    password_env: str = "SITEGEN_SMTP_PASSWORD"
    subject: str = "{{ partner.name }} scorecard — {{ period }}"


@dataclass(frozen=True)
class Config:
    project_dir: Path
    path: Path
    site: SiteConfig = field(default_factory=SiteConfig)
    data: DataConfig = field(default_factory=DataConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    pdf: PdfConfig = field(default_factory=PdfConfig)
    email: EmailConfig = field(default_factory=EmailConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)

    @property
    def data_dir(self) -> Path:
        return self.project_dir / self.data.dir

    @property
    def data_label(self) -> str:
        """How the data folder is named in messages: as the user would type it."""
        if self.project_dir == Path("."):
            return self.data.dir
        return str(self.project_dir / self.data.dir)


# A check returns None when the value is fine, else the reason in words.
Check = Callable[[Any], str | None]


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        if value in choices:
            return None
        return f"must be one of {', '.join(choices)} (got {value!r})"

    return check


def _between(low: float, high: float) -> Check:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"must be between {low} and {high} (got {value})"

    return check


def _period(value: Any) -> str | None:
    if value == "latest" or (why := periods.problem(value)) is None:
        return None
    return f'must be "latest" or a period: {why}'


def _base_url(value: Any) -> str | None:
    """Every email links to it: a web address (http or https) or a path, nothing that runs."""
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", value)
    plain = not any(ord(c) < 32 or c.isspace() for c in value)
    if plain and (scheme is None or scheme.group(1).lower() in ("http", "https")):
        return None  # empty, a web address, or a path (/scorecards/)
    return f"must be an http:// or https:// address or a path (got {printable(value)!r})"


def _email(value: Any) -> str | None:
    return None if value == "" or EMAIL_RE.match(value) else f"is not an email address: {value!r}"


def _nonempty(value: Any) -> str | None:
    return None if value.strip() else "must not be empty"


def _env_name(value: Any) -> str | None:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        return None
    return f"must be the name of an environment variable (got {value!r})"


# section -> key -> (expected type, extra check or None)
SCHEMA: dict[str, dict[str, tuple[type, Check | None]]] = {
    "site": {
        "title": (str, _nonempty),
        "organization": (str, _nonempty),
        "grain": (str, _one_of("month", "quarter", "year")),
        "period": (str, _period),
        "base_url": (str, _base_url),
    },
    "data": {"dir": (str, _nonempty)},
    "status": {
        "amber_band": (float, _between(0, 1)),
        "min_denominator": (int, _between(1, 1_000_000)),
    },
    "pdf": {
        "enabled": (bool, None),
        "paper": (str, _one_of("us-letter", "a4")),
    },
    "email": {
        "sender": (str, _email),
        "smtp_host": (str, _nonempty),
        "smtp_port": (int, _between(1, 65535)),
        "starttls": (bool, None),
        "username_env": (str, _env_name),
        "password_env": (str, _env_name),
        "subject": (str, _nonempty),
    },
    "review": {"every": (str, _one_of("month", "quarter", "year"))},
}

SECTION_TYPES = {
    "site": SiteConfig,
    "data": DataConfig,
    "status": StatusConfig,
    "pdf": PdfConfig,
    "email": EmailConfig,
    "review": ReviewConfig,
}

TYPE_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}


def _suggest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_ok(value: Any, expected: type) -> bool:
    """TOML integers are fine where a number is expected; booleans never count as numbers."""
    if isinstance(value, bool):
        return expected is bool
    if expected is float:
        return isinstance(value, int | float)
    return isinstance(value, expected)


def _check_section(where: str, name: str, table: Any, problems: list[str]) -> dict[str, Any] | None:
    """Validate one [section]; append problems; return the accepted values."""
    if not isinstance(table, dict):
        problems.append(f"{where}: [{name}] must be a table")
        return None
    keys = SCHEMA[name]
    accepted: dict[str, Any] = {}
    for key, value in table.items():
        if key not in keys:
            hint = _suggest(key, list(keys))
            problems.append(f"{where}: [{name}] {key}: unknown key{hint}")
            continue
        expected, check = keys[key]
        if not _type_ok(value, expected):
            problems.append(
                f"{where}: [{name}] {key}: must be {TYPE_NAMES[expected]} (got {value!r})"
            )
            continue
        reason = check(value) if check else None
        if reason:
            problems.append(f"{where}: [{name}] {key}: {reason}")
            continue
        accepted[key] = float(value) if expected is float else value
    return accepted


def load_config(project_dir: Path) -> Config:
    """Read `<project_dir>/sitegen.toml` with defaults; raise ConfigError listing every problem."""
    path = project_dir / CONFIG_NAME
    where = printable(str(path))
    if not path.exists():
        raise ConfigError(
            [f"{where}: not found (create a project with `sitegen init DIR`, or pass --project)"]
        )
    try:
        if not path.is_file():  # a folder or a pipe would be read forever
            raise OSError(0, "not a regular file")
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG + 1)
        if len(data) > MAX_CONFIG:
            raise OSError(0, f"larger than {MAX_CONFIG >> 20} MB: not a configuration file")
        raw = tomllib.loads(data.decode("utf-8-sig"))  # a BOM, as some editors write it, is fine
    except OSError as exc:
        raise ConfigError([f"{where}: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{where}: not UTF-8 (byte offset {exc.start})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{where}: invalid TOML: {exc}"]) from None

    problems: list[str] = []
    sections: dict[str, Any] = {}
    failed = set()
    for name, table in raw.items():
        if name not in SCHEMA:
            problems.append(f"{where}: [{name}]: unknown section{_suggest(name, list(SCHEMA))}")
            continue
        before = len(problems)
        accepted = _check_section(where, name, table, problems)
        if len(problems) > before:
            failed.add(name)
        if accepted is not None:
            sections[name] = SECTION_TYPES[name](**accepted)
    site = sections.get("site", SiteConfig())
    mismatch = period_problem(site.period, site.grain) if "site" not in failed else None
    if mismatch:
        problems.append(f"{where}: [site] period: {mismatch}")
    review = sections.get("review", ReviewConfig())
    written = raw.get("review")
    if not (isinstance(written, dict) and "every" in written):
        # unset: quarterly, or as often as the grain when that is coarser (a yearly scorecard)
        every = max(review.every, site.grain, key=KINDS.index)
        sections["review"] = review = replace(review, every=every)
    every = review.every
    if KINDS.index(every) < KINDS.index(site.grain):
        problems.append(
            f"{where}: [review] every: {every!r} is shorter than the scorecard's grain "
            f"{site.grain!r}; a review covers one period or more"
        )
    data_dir = (project_dir / sections.get("data", DataConfig()).dir).resolve()
    if not data_dir.is_relative_to(project_dir.resolve()):
        problems.append(
            f"{where}: [data] dir: must be a folder inside the project, since nothing outside "
            f"it is read (got {sections['data'].dir!r})"
        )
    if problems:
        raise ConfigError(problems)
    return Config(project_dir=project_dir, path=path, **sections)


def period_problem(period: str, grain: str) -> str | None:
    """Why `period` cannot be the scorecard period at `grain`, or None when it can."""
    if period == "latest":
        return None
    why = _period(period)
    if why:
        return why
    if periods.kind(period) != grain:
        return f"{period!r} is a {periods.kind(period)} but grain is {grain!r}"
    return None
