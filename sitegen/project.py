"""The sample project that `sitegen init` copies.

An installed wheel carries it as package data under `sitegen/sample/`; in a source checkout the
repository root is the sample project itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path

SAMPLE_PARTS = ("sitegen.toml", "data", "content", "templates")


def sample_dir() -> Path:
    """Where the sample project lives for this installation."""
    packaged = Path(__file__).parent / "sample"
    if (packaged / "sitegen.toml").is_file():
        return packaged
    return Path(__file__).parent.parent


def copy_sample(target: Path) -> int:
    """Copy the sample project into `target` (new or empty); return the number of files."""
    source = sample_dir()
    target.mkdir(parents=True, exist_ok=True)
    for part in SAMPLE_PARTS:
        origin = source / part
        if origin.is_dir():
            shutil.copytree(origin, target / part)
        else:
            shutil.copy2(origin, target / part)
    return sum(1 for path in target.rglob("*") if path.is_file())
