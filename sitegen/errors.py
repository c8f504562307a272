"""Every error a run can end with, each carrying its exit code: 2 for a mistake in what the
user gave (fix the input and run again), 1 for a problem the run reports (no data, another
build running, a mail server that refuses, a bug of ours). The command line prints one line
per problem (`lines`) and exits with `exit_code`; nothing else decides either.
"""

from __future__ import annotations


class SitegenError(Exception):
    """A run's end that is told in words, never as a traceback."""

    exit_code = 1

    def lines(self) -> list[str]:
        return [" ".join(str(self).split())]  # a library's message can run to many lines


class UsageError(SitegenError):
    """A mistake in the command line, the configuration, a reference file or content."""

    exit_code = 2


class ConfigError(UsageError):
    """One or more problems in sitegen.toml or the command line; one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems

    def lines(self) -> list[str]:
        return self.problems


class UnknownPartner(UsageError):
    """`--partner` names no partner of partners.csv (known once the reference files are read)."""

    def __init__(self, partner: str) -> None:
        super().__init__(f"--partner: no partner with id {partner!r} in partners.csv")


class InputError(UsageError):
    """A problem in a reference file: reported as `file:line:column: message`."""

    def __init__(self, path: str, line: int, column: int | None, message: str) -> None:
        where = path + (f":{line}" if line else "") + (f":{column}" if column else "")
        super().__init__(f"{where}: {message}")


class ContentError(UsageError):
    """A narrative or a project's own template that cannot be rendered: names the file."""


class PeriodError(UsageError):
    """The configured period (`--period` or `[site] period`) has no data."""


class NoDataError(SitegenError):
    """No accepted metric row to report on."""


class NoHardLinks(SitegenError):
    """The output's file system cannot hard-link files, which the period archive needs."""


class BuildLocked(SitegenError):
    """Another build of the same output is running."""


class MailError(SitegenError):
    """A delivery problem that stops the run: one line, naming the server."""


class ChartError(SitegenError):
    """A spec vl-convert could not draw; the message names the chart."""


class TemplateBug(SitegenError):
    """A packaged template failed: sitegen's fault, not the user's, so exit 1 and ask for a
    report rather than send the user looking for a mistake they did not make."""
