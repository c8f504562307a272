"""The Jinja environment every renderer shares (site pages, email bodies): the project's own
templates first, the packaged ones second; the number filters; one-line template errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    select_autoescape,
)

from sitegen.filters import FILTERS
from sitegen.narrative import ContentError


def environment(project_templates: Path) -> Environment:
    """Project templates first, packaged defaults second; HTML autoescaped (plain-text email
    is not HTML); an undefined variable is an error."""
    env = Environment(
        loader=ChoiceLoader(
            [FileSystemLoader(project_templates), PackageLoader("sitegen", "templates")]
        ),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def render(env: Environment, name: str, context: dict[str, Any]) -> str:
    """A template filled in; a broken (project) template is one line naming it."""
    try:
        return env.get_template(name).render(context)
    except TemplateSyntaxError as exc:
        raise ContentError(f"template {exc.name or name}:{exc.lineno}: {exc.message}") from None
    except TemplateError as exc:
        raise ContentError(f"template {name}: {exc.message}") from None
