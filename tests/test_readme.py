"""The README's promises and the tests in step: every command it shows is run by a test, and
CI runs its two set-up commands exactly as written, in a fresh virtual environment."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import readme

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
CI = ROOT / ".ci" / "run"
VENV = "python3 -m venv .venv && . .venv/bin/activate"

# Every command the README shows, and the test that runs it. A command added to the README
# fails test_every_readme_command_is_run_by_a_test until a test runs it.
RUN_BY = {
    "python -m pip install -e '.[test]' && sitegen build": ".ci/run",
    "python -m pytest": ".ci/run",
    "ruff check . && ruff format --check .": ".ci/run",
    "30 2 * * * cd /srv/alliance && .venv/bin/sitegen build -q --wait >> /var/log/sitegen.log "
    "2>&1": "test_deployment.py::test_the_crontab_line_builds_quietly_without_a_terminal",
    "/srv/alliance/.venv/bin/sitegen build -q --wait": (
        "test_deployment.py::test_the_systemd_unit_builds_a_site_that_nginx_serves"
    ),
    "sitegen build --partner alderbrook-medical --output /srv/partners/alderbrook-medical": (
        "test_readme.py::test_the_partner_site_command_builds_that_partners_site"
    ),
    "sitegen build -q && sitegen email -q": "test_mail.py::test_the_readme_email_commands",
    "sitegen email --dry-run": "test_mail.py::test_the_readme_email_commands",
    "sitegen email --partner north-hosp --resend": "test_mail.py::test_the_readme_email_commands",
    "py-spy record --subprocesses -o profile.svg -- python -m sitegen build -q --project DIR": (
        "test_readme.py::test_the_profiling_command_profiles_a_build"
    ),
    'python -m pytest -m "not slow"': (
        "test_readme.py::test_the_quick_test_command_selects_only_quick_tests"
    ),
    "python benchmarks/bench_kpis.py": "test_readme.py::test_the_benchmark_commands_run",
    "python benchmarks/bench_build.py": "test_readme.py::test_the_benchmark_commands_run",
    "python benchmarks/bench_pdf.py": "test_readme.py::test_the_benchmark_commands_run",
}


def with_this_python() -> dict[str, str]:
    """The environment with this interpreter's scripts (sitegen, py-spy, python) first on PATH,
    as in the activated virtual environment the README asks for."""
    here = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{here}{os.pathsep}{os.environ['PATH']}"}


def test_every_readme_command_is_run_by_a_test() -> None:
    assert readme.commands() == list(dict.fromkeys(readme.commands()))  # each shown once
    assert set(readme.commands()) == set(RUN_BY)
    for where in set(RUN_BY.values()) - {".ci/run"}:
        module, name = where.split("::")
        tree = ast.parse((Path(__file__).parent / module).read_text(encoding="utf-8"))
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert name in defined, where


def test_the_readme_starts_with_the_two_setup_commands() -> None:
    text = readme.README.read_text(encoding="utf-8")
    assert text.startswith("# sitegen\n\n```sh\n")
    assert readme.setup_commands() == [
        "python -m pip install -e '.[test]' && sitegen build",
        "python -m pytest",
    ]
    assert f"`{VENV}`" in text  # how to make the virtual environment they run in


def test_ci_runs_the_setup_commands_as_written_in_a_fresh_venv() -> None:
    lines = [line.strip() for line in CI.read_text(encoding="utf-8").splitlines()]
    venv = lines.index(VENV)
    assert lines[venv - 1] == "rm -rf .venv"  # fresh, even on a machine that ran it before
    install, tests = readme.setup_commands()
    assert lines.index(install) > venv
    assert lines.index("ruff check . && ruff format --check .") > venv
    assert lines[-1] == tests


def test_ci_installs_every_system_package_the_readme_names() -> None:
    prose = " ".join(readme.README.read_text(encoding="utf-8").split())
    named = re.search(r"`apt-get install -y ([a-z0-9 .+-]+)`", prose)
    assert named is not None
    ci = " ".join(CI.read_text(encoding="utf-8").replace("\\\n", " ").split())
    installed = re.search(r"apt-get install -y -q -o DPkg::Lock::Timeout=120 ([a-z0-9 .+-]+)", ci)
    assert installed is not None
    assert set(named.group(1).split()) == set(installed.group(1).split())
    assert {"chromium", "poppler-utils", "default-jre-headless", "nginx"} <= set(
        named.group(1).split()
    )


def test_the_quick_test_command_selects_only_quick_tests() -> None:
    """Run as the README shows it, collecting only (running it would run most of the suite
    inside the suite): it selects tests, none of them marked slow."""
    quick = readme.command('python -m pytest -m "not slow"')
    collected = readme.shell(f"{quick} --collect-only -q", cwd=ROOT, env=with_this_python())
    assert collected.returncode == 0, collected.stdout + collected.stderr
    chosen = {line for line in collected.stdout.splitlines() if "::" in line}
    slow = readme.shell(
        'python -m pytest -m "slow" --collect-only -q', cwd=ROOT, env=with_this_python()
    )
    slow_ones = {line for line in slow.stdout.splitlines() if "::" in line}
    assert len(chosen) > 100 and slow_ones and not chosen & slow_ones
    assert any("test_readme.py" in t for t in slow_ones)  # this module's own slow tests


@pytest.mark.slow
def test_the_partner_site_command_builds_that_partners_site(tmp_path: Path) -> None:
    env = with_this_python()
    made = readme.shell("sitegen init alliance", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    command = readme.command("sitegen build --partner ").replace("/srv/", f"{tmp_path}/srv/")
    ran = readme.shell(command, cwd=tmp_path / "alliance", env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    site = tmp_path / "srv" / "partners" / "alderbrook-medical"
    assert (site / "partners" / "alderbrook-medical.html").is_file()
    assert (site / "pdf" / "alderbrook-medical.pdf").is_file()
    assert sorted(p.name for p in (site / "partners").iterdir()) == [
        "alderbrook-medical.csv",
        "alderbrook-medical.html",
        "alderbrook-medical.json",
    ]


@pytest.mark.slow
def test_the_profiling_command_profiles_a_build(tmp_path: Path) -> None:
    if shutil.which("py-spy", path=with_this_python()["PATH"]) is None:
        pytest.fail("py-spy is missing: it is a test extra (pip install -e '.[test]')")
    shutil.copytree(FIXTURES / "mini", tmp_path / "mini")
    command = readme.command("py-spy record ").replace("DIR", "mini")
    ran = readme.shell(command, cwd=tmp_path, env=with_this_python())
    assert ran.returncode == 0, ran.stdout + ran.stderr
    profile = (tmp_path / "profile.svg").read_text(encoding="utf-8")
    assert profile.startswith("<?xml") and "sitegen" in profile
    assert (tmp_path / "mini" / "output" / "index.html").is_file()


@pytest.mark.slow
def test_the_benchmark_commands_run(tmp_path: Path) -> None:
    """Each benchmark as the README shows it, at a few partners (the default sizes take
    minutes); each prints its table and writes nothing into the repository."""
    sizes = {"bench_kpis.py": "5", "bench_build.py": "6", "bench_pdf.py": "4"}
    before = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    for script, partners in sizes.items():
        command = readme.command(f"python benchmarks/{script}")
        extra = " --cold-only" if script == "bench_build.py" else ""
        ran = readme.shell(
            f"{command} --partners {partners}{extra}", cwd=ROOT, env=with_this_python()
        )
        assert ran.returncode == 0, (script, ran.stdout + ran.stderr)
        assert re.search(r"\d+\.\d+ s|\d+\.\d+ ms", ran.stdout), (script, ran.stdout)
    after = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert after == before
