"""The Jinja environments every renderer shares (site pages, email bodies): the project's own
templates first, the packaged ones second; the number filters; one-line template errors.

A project's template is read like every input: only a regular file inside the project, so a
link in templates/ that leads elsewhere is refused, never read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)
from jinja2.loaders import split_template_path

from sitegen import reading, sandbox
from sitegen.filters import FILTERS
from sitegen.narrative import ContentError


class ProjectTemplates(BaseLoader):
    """Templates from the project's templates/ folder, read as input files are."""

    def __init__(self, project_dir: Path) -> None:
        self.root = project_dir
        self.folder = project_dir / "templates"

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = self.folder.joinpath(*split_template_path(template))  # no '..' parts
        if not path.exists() and not path.is_symlink():
            raise TemplateNotFound(template)  # the packaged one is used
        try:
            source = reading.read_reference(path, self.root).decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or "not UTF-8"
            raise TemplateError(f"templates/{template}: {why}") from None
        mtime = path.stat().st_mtime
        return source, str(path), lambda: path.stat().st_mtime == mtime


def _loader(project_dir: Path) -> BaseLoader:
    return ChoiceLoader([ProjectTemplates(project_dir), PackageLoader("sitegen", "templates")])


def environment(project_dir: Path) -> Environment:
    """Project templates first, packaged defaults second; HTML autoescaped (plain-text email
    is not HTML); an undefined variable is an error."""
    env = Environment(
        loader=_loader(project_dir),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def mail_environment(project_dir: Path) -> sandbox.Sandbox:
    """The email templates' environment: the same templates, in the sandbox narratives use
    (an email template, like a narrative, is text an author may hand in)."""
    env = sandbox.sandbox(_loader(project_dir))
    env.autoescape = select_autoescape(["html"])
    return env


def render(env: Environment, name: str, context: dict[str, Any]) -> str:
    """A template filled in; a broken (project) template is one line naming it."""
    try:
        template = env.get_template(name)
        if isinstance(env, sandbox.Sandbox):
            return sandbox.render(template, context)
        return template.render(context)
    except TemplateSyntaxError as exc:
        raise ContentError(f"template {exc.name or name}:{exc.lineno}: {exc.message}") from None
    except TemplateError as exc:
        raise ContentError(f"template {name}: {exc.message}") from None
    except Exception as exc:  # a filter given the wrong type, and the like
        raise ContentError(f"template {name}: {type(exc).__name__}: {exc}") from None
