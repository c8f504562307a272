"""Publishing: one build at a time, into a folder beside the live site, swapped in atomically.

Also the manifest (with unchanged files kept as they were) and the build log.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pickle
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sitegen.errors import BuildLocked

# Told how far a long stage is: (what, done, total), e.g. ("charts", 120, 820).
Progress = Callable[[str, int, int], None]


@dataclass
class Timings:
    """Wall seconds per stage, in the order the stages first ran, and the CPU seconds the
    build's process spent meanwhile (all its threads: DuckDB's, Typst's helpers, vl-convert's
    in-process drawing; not the chart workers', which count their own). A stage entered again
    (the drawing of each batch of views) adds to its time.

    With --jobs 1 the stages run one after another, so each one's CPU is its own: how a
    build's CPU divides between drawing, typesetting and the rest is read from there. With
    more jobs, PDFs are typeset on threads beside the other stages, whose CPU then holds
    some of Typst's."""

    stages: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - started
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - cpu

    def rounded(self) -> dict[str, float]:
        return {name: round(seconds, 3) for name, seconds in self.stages.items()}

    def rounded_cpu(self) -> dict[str, float]:
        return {name: round(seconds, 3) for name, seconds in self.cpu.items()}


def build_time() -> datetime:
    """Now, or SOURCE_DATE_EPOCH when set, so that the same input gives the same bytes."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC)
    return datetime.now(UTC).replace(microsecond=0)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(sources: list[Path], settings: dict[str, Any], root: Path) -> str:
    """Everything a build's output depends on, as one hash: each file under `sources` (by
    path and bytes, a chunk at a time; folders are walked, compiled-Python caches left out)
    and the settings. A file of the project (under `root`) that leads outside it is hashed by
    where it leads, never read (the build refuses it anyway); one that cannot be read, by the
    reason. Sources outside the project (sitegen's own code) are read as they are.

    Reading ~40 MB of metrics for this takes ~0.1 s; building what they make takes minutes.
    """
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    inside = root.resolve()
    for source in sources:
        if source.is_file():
            files = [source]
        else:
            files = sorted(
                p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            )
        ours = source.absolute().is_relative_to(root.absolute())
        for path in files:
            digest.update(f"\0{path}\0".encode())
            if ours and not path.resolve().is_relative_to(inside):
                digest.update(f"outside: {path.resolve()}".encode())
                continue
            try:
                digest.update(sha256(path).encode())
            except OSError as exc:
                digest.update(f"unreadable: {exc.strerror}".encode())
    return digest.hexdigest()


@dataclass
class Keeper:
    """Decides, once for every output unit (a view's page, downloads and PDF), whether the
    live site's copy can be kept: when the unit's key, a hash of what every unit shares
    (`shared`: code, libraries, Python, templates, settings, dates) and of the unit's own
    inputs, equals the key the live manifest recorded for it. A kept unit's files are
    hard-linked from the live site and its view is never made."""

    live: Path
    shared: str
    before: dict[str, str]  # the live manifest's keys
    keys: dict[str, str] = field(default_factory=dict)  # this build's, for its manifest
    kept: int = 0

    def keep(
        self, name: str, inputs: tuple[Any, ...] | None, files: list[str], out: Path
    ) -> list[Path] | None:
        """Link the unit's live files into `out` if its inputs are unchanged; the files
        linked, or None when it must be made. A unit planned with no inputs (the dashboard:
        it shows everyone's figures) is always made."""
        if inputs is None:
            return None
        digest = hashlib.sha256(f"{self.shared}\0{name}\0".encode())
        digest.update(pickle.dumps(inputs, protocol=5))
        key = self.keys[name] = digest.hexdigest()
        if self.before.get(name) != key:
            return None
        linked = []
        try:
            for file in files:
                target = out / file
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(self.live / file, target)
                linked.append(target)
        except OSError:  # gone from the live site, or another file system: make it
            for target in linked:
                target.unlink()
            return None
        self.kept += 1
        return linked


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write via a temporary file beside it, so a reader never sees half a file.

    The temporary name carries the process id: two builds, or two workers, never share one.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_manifest(output: Path) -> dict[str, Any]:
    """The live site's manifest, or {} when there is none (first build, or unreadable)."""
    try:
        return json.loads((output / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_manifest(staging: Path, facts: dict[str, Any], live: Path, skip: str = "") -> Path:
    """manifest.json: the build's facts plus every file with its SHA-256, sorted by path,
    but those under the top-level folder `skip` (the period archive, listed in the facts).

    A file whose bytes equal the live site's copy is replaced by a hard link to that copy, so
    an unchanged page keeps its modification time (rsync and HTTP caches stay valid) and costs
    no disk.
    """
    before = {f["path"]: f["sha256"] for f in read_manifest(live).get("files", [])}
    files = sorted(
        p for p in staging.rglob("*") if p.is_file() and p.relative_to(staging).parts[0] != skip
    )
    listed = []
    for path in files:
        name = str(path.relative_to(staging))
        if name in before and _same_file(live / name, path):  # kept from the live site
            digest = before[name]
        else:
            digest = sha256(path)
            if before.get(name) == digest:
                _keep(live / name, path)
        listed.append({"path": name, "sha256": digest})
    manifest = {
        **facts,
        "pages": sorted(f["path"] for f in listed if f["path"].endswith(".html")),
        "files": listed,
    }
    path = staging / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _keep(old: Path, new: Path) -> None:
    """Put the live file in place of its identical new copy (a hard link), if it is there."""
    link = new.with_name(f".{new.name}.link")
    try:
        os.link(old, link)
    except OSError:  # gone, or another file system: the new copy will do
        return
    os.replace(link, new)


# ------------------------------------------------------------------------------------ publish
#
# The live site is `output`, a symbolic link to one complete build in `.<output>.builds/`. A
# build is written to `<id>.partial` there, renamed to `<id>` when complete, and published by
# pointing a new link at it and renaming that link over `output`: one rename, which the file
# system does atomically. A web server serving `output/` therefore sees the old site or the
# new one, never a half-written or mixed one; a build that fails or is killed at any moment
# leaves the old link, and so the old site, in place. The next build removes what it left;
# the site it replaced is kept until the build after, for readers still on it.


def builds_dir(output: Path) -> Path:
    return output.with_name(f".{output.name}.builds")


def staging_dir(output: Path) -> Path:
    """A fresh folder for this build, beside the live ones (same file system, so renames).

    Made with the umask's mode, like every file the build writes (0755 under the usual 022),
    not `tempfile.mkdtemp`'s 0700: the web server's workers run as another user and must be
    able to enter it once it is published. The build lock makes the name this build's own.
    """
    builds = builds_dir(output)
    builds.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")  # names sort in build order
    staging = builds / f"{stamp}-{os.getpid()}.partial"
    staging.mkdir()
    return staging


def publish(staging: Path, output: Path) -> Path:
    """Make the complete build in `staging` the live site, atomically; return its folder."""
    final = staging.with_suffix("")
    staging.rename(final)
    link = output.with_name(f".{output.name}.link-{os.getpid()}")
    link.unlink(missing_ok=True)
    link.symlink_to(os.path.relpath(final, output.parent))
    if output.is_dir() and not output.is_symlink():
        # a site from before builds were kept beside it: move it aside, once
        output.rename(builds_dir(output) / f"{final.name}-before")
    os.replace(link, output)
    return final


def prune(output: Path) -> None:
    """Remove the leftovers of failed or killed builds and every build but the live one and
    the newest before it: a reader that started on the replaced site can finish reading it.
    Call it holding the lock, so that no other build is writing there."""
    builds = builds_dir(output).resolve()
    if not builds.is_dir():
        return
    live = output.resolve() if output.is_symlink() else None
    complete = sorted(e for e in builds.iterdir() if e.suffix != ".partial" and e != live)
    keep = {live, *complete[-1:]}
    for entry in builds.iterdir():
        if entry not in keep:
            shutil.rmtree(entry, ignore_errors=True)
    for link in output.parent.glob(f".{output.name}.link-*"):
        link.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------- lock


@contextmanager
def locked(output: Path, wait: bool) -> Iterator[str | None]:
    """Hold the build lock of `output` (`.<output>.lock` beside it) for the whole build.

    The lock is an flock, which the operating system releases when its holder ends, however it
    ends: a killed build leaves no lock to clear by hand. The file says who holds it, and is
    emptied by a build that finishes; finding it not empty means the last build was killed.
    Yields that build's description ("pid 123 since …"), or None.
    """
    path = output.with_name(f".{output.name}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "pid unknown"
            raise BuildLocked(
                f"another build or email run of {output} is running ({holder}); "
                "let it finish, or use --wait to wait for it"
            ) from None
        handle.seek(0)
        killed = handle.read().strip() or None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n")
        handle.flush()
        try:
            yield killed
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------- log

LOG_RUNS = 20  # runs kept in the build log
LOG_START = "== build "


def log_path(output: Path) -> Path:
    """The build log, beside the output like its lock: a record for whoever runs the builds,
    not for the site's readers (it names files and counts every rejected row)."""
    return output.with_name(f".{output.name}.log")


def write_log(output: Path, lines: list[str]) -> Path:
    """This run's lines after those of the last LOG_RUNS - 1 runs, oldest first."""
    path = log_path(output)
    try:
        old = path.read_text(encoding="utf-8")
    except OSError:
        old = ""
    runs = [LOG_START + run for run in old.split(LOG_START)[1:]]
    write_atomic(path, "".join(runs[-(LOG_RUNS - 1) :]) + "\n".join(lines) + "\n")
    return path
