"""The package as a user installs it: a wheel, not this checkout."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def sh(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_wheel_install_init_and_validate(tmp_path: Path) -> None:
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
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    python = env_dir / "bin" / "python"
    installed = sh(python, "-m", "pip", "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    where = sh(python, "-c", "import sitegen; print(sitegen.__file__)", cwd=tmp_path)
    assert where.stdout.startswith(str(env_dir)), where.stdout

    sitegen = env_dir / "bin" / "sitegen"
    created = sh(sitegen, "init", "alliance", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "alliance" / "data" / "partners.csv").is_file()
    checked = sh(sitegen, "validate", "--project", "alliance", cwd=tmp_path)
    assert checked.returncode == 1, checked.stderr  # the sample plants bad rows on purpose
    assert "Rejected rows by reason:" in checked.stdout
    assert "Traceback" not in checked.stdout + checked.stderr

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
