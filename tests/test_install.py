"""The package as a user installs it: a wheel, not this checkout."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
# What sitegen imports; the folders they are installed in also hold what they import.
DEPENDENCIES = (
    "click", "duckdb", "jinja2", "altair", "vl_convert", "markdown", "nh3", "typst", "rich",
)  # fmt: skip


def sh(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env
    )


def dependency_folders() -> list[str]:
    """The site-packages folders this interpreter finds sitegen's dependencies in: a virtual
    environment's when the tests run in one, the system's otherwise."""
    folders = []
    for name in DEPENDENCIES:
        module = importlib.import_module(name)
        folder = str(Path(module.__file__).resolve().parent.parent)
        if folder not in folders:
            folders.append(folder)
    return folders


def fresh_venv(env_dir: Path) -> Path:
    """A new virtual environment that sees the dependencies already installed (a .pth file
    names their folders) but not this checkout; its python. `system_site_packages` would see
    the base interpreter's packages, which lack them when the tests run in a venv."""
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    purelib = sh(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=env_dir
    )
    (Path(purelib.stdout.strip()) / "sitegen-test-dependencies.pth").write_text(
        "\n".join(dependency_folders()) + "\n"
    )
    return python


@pytest.mark.slow
def test_wheel_install_init_and_the_hint_it_prints(tmp_path: Path) -> None:
    built = sh(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-w",
        tmp_path / "dist",
        ROOT,
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("sitegen-*.whl"))

    # The dependencies are the ones already installed; the package itself comes from the wheel.
    env_dir = tmp_path / "venv"
    python = fresh_venv(env_dir)
    installed = sh(python, "-m", "pip", "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    where = sh(python, "-c", "import sitegen; print(sitegen.__file__)", cwd=tmp_path)
    assert where.stdout.startswith(str(env_dir)), where.stdout + where.stderr

    sitegen = env_dir / "bin" / "sitegen"
    created = sh(sitegen, "init", "alliance", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "alliance" / "data" / "partners.csv").is_file()
    hint = created.stdout.splitlines()[-1].strip()
    assert hint == "sitegen validate --project alliance; sitegen build --project alliance"

    # The hint, run as a user pastes it into a shell: it builds the sample.
    path = f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}"
    ran = sh("bash", "-c", hint, cwd=tmp_path, env={**os.environ, "PATH": path})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "Rejected rows by reason:" in ran.stdout  # the sample plants bad rows on purpose
    assert "Traceback" not in ran.stdout + ran.stderr
    assert (tmp_path / "alliance" / "output" / "index.html").is_file()
    assert (tmp_path / "alliance" / "output" / "pdf" / "alliance.pdf").is_file()

    # What a build reads besides Python: templates, stylesheet, the fonts, the PDF templates.
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in [
        "sitegen/templates/site/partner.html",
        "sitegen/templates/pdf/scorecard.typ",
        "sitegen/templates/pdf/alliance.typ",
        "sitegen/templates/pdf/common.typ",
        "sitegen/static/style.css",
        "sitegen/static/fonts.css",
        "sitegen/fonts/Inter-Regular.otf",
        "sitegen/fonts/Inter-Bold.otf",
        "sitegen/fonts/Inter-Italic.otf",
        "sitegen/fonts/OFL.txt",
        "sitegen/sql/kpi_scorecard.sql",
    ]:
        assert shipped in names, shipped
