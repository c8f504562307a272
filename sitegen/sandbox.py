"""The Jinja sandbox for text that authors write: narratives, the email subject and bodies.

Jinja's own sandbox already keeps templates from Python's internals. This one also keeps them
small and quick, so that no narrative can stall or swamp a nightly build: no include, import
or extends (there is no file to reach), no filter beyond an allow-list, no power above
MAX_EXPONENT, no string or list made longer than MAX_ITEMS by `*`, at most MAX_OUTPUT
characters of output and MAX_SECONDS of work (`render`). Every failure is a TemplateError.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from jinja2 import BaseLoader, Environment, StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from sitegen.filters import FILTERS

MAX_EXPONENT = 100
MAX_ITEMS = 100_000
MAX_OUTPUT = 1_000_000  # characters
MAX_SECONDS = 5.0
# Jinja's own filters that cannot make much out of little (no center, indent, wordwrap,
# format or the like, whose sizes an argument sets).
SAFE_FILTERS = (
    "abs", "capitalize", "default", "d", "e", "escape", "first", "float", "int", "join",
    "last", "length", "count", "list", "lower", "upper", "title", "trim", "round", "sort",
    "string", "sum", "unique", "reverse", "striptags", "min", "max", "safe",
)  # fmt: skip
# String methods a template may call; the rest (ljust, zfill, replace, format, …) may not.
SAFE_STRING_METHODS = {"upper", "lower", "title", "capitalize", "strip", "startswith", "endswith"}


class LimitError(TemplateError):
    """A template that went past one of the sandbox's limits."""


class _NoFiles(BaseLoader):
    def get_source(self, environment: Environment, template: str) -> Any:
        raise LimitError(f"{template!r}: a narrative cannot include, import or extend a file")


class Sandbox(SandboxedEnvironment):
    """Jinja's sandbox with the limits above."""

    intercepted_binops = frozenset({"**", "*"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise LimitError(f"a power above {MAX_EXPONENT} ({left} ** {right})")
            return left**right
        size = (
            len(left) * right
            if hasattr(left, "__len__") and isinstance(right, int)
            else len(right) * left
            if hasattr(right, "__len__") and isinstance(left, int)
            else 0
        )
        if size > MAX_ITEMS:
            raise LimitError(f"text or a list longer than {MAX_ITEMS:,} items made with *")
        return left * right

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and callable(value) and attr not in SAFE_STRING_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)


def sandbox(loader: BaseLoader | None = None, autoescape: bool = False) -> Sandbox:
    """A sandbox with the number filters and the safe Jinja ones; templates come from
    `loader` (the email templates), or from nowhere (a narrative)."""
    env = Sandbox(
        loader=loader or _NoFiles(),
        undefined=StrictUndefined,
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters = {name: env.filters[name] for name in SAFE_FILTERS} | FILTERS
    return env


def render(template: Template, variables: dict[str, Any]) -> str:
    """The template filled in, within MAX_OUTPUT characters and MAX_SECONDS."""
    out: list[str] = []
    size = 0
    with time_limit(MAX_SECONDS):
        for chunk in template.generate(variables):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise LimitError(f"its text runs past {MAX_OUTPUT:,} characters")
            out.append(chunk)
    return "".join(out)


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Stop the Python code run inside the block once `seconds` have passed (a LimitError),
    by a trace function that looks at the clock as each line runs: a template's loops are
    Python code, however deep they nest, and this works in any thread."""
    deadline = time.monotonic() + seconds
    previous = sys.gettrace()

    def trace(frame: FrameType, event: str, arg: Any) -> Callable[..., Any]:
        if time.monotonic() > deadline:
            raise LimitError(f"it took more than {seconds:g} s to fill in")
        return trace

    sys.settrace(trace)
    try:
        yield
    finally:
        sys.settrace(previous)
