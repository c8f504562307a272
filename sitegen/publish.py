"""Publishing: build into a staging folder beside the live one, write the manifest, swap.

The staging folder is filled completely before the live `output/` is replaced, so a failed
build never leaves a half-written site behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass
class Timings:
    """Wall seconds per stage, in the order the stages ran."""

    stages: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round(time.perf_counter() - started, 3)


def build_time() -> datetime:
    """Now, or SOURCE_DATE_EPOCH when set, so that the same input gives the same bytes."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC)
    return datetime.now(UTC).replace(microsecond=0)


def staging_dir(output: Path) -> Path:
    """A fresh staging folder next to `output` (same file system, so the swap is a rename)."""
    staging = output.with_name(f".{output.name}.staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(staging: Path, facts: dict[str, Any]) -> Path:
    """manifest.json: the build's facts plus every file with its SHA-256, sorted by path."""
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    manifest = {
        **facts,
        "pages": sorted(str(p.relative_to(staging)) for p in files if p.suffix == ".html"),
        "files": [{"path": str(p.relative_to(staging)), "sha256": sha256(p)} for p in files],
    }
    path = staging / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def swap(staging: Path, output: Path) -> None:
    """Replace `output` by `staging`: the old site is moved aside, then removed."""
    previous = output.with_name(f".{output.name}.previous")
    if previous.exists():
        shutil.rmtree(previous)
    if output.exists():
        output.rename(previous)
    staging.rename(output)
    if previous.exists():
        shutil.rmtree(previous)
