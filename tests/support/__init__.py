"""Real-client test harness: a local server, headless Chromium, axe-core, the Nu checker, links.

- `tests.support.browser`: `serve()` a site under a sub-path, `chromium()`, `visit()` a page with
  every request outside the site blocked and recorded, `axe()` for accessibility violations.
- `tests.support.validators`: `nu_check()` (Nu HTML checker) and `broken_links()` (pure Python).

The tools come from `npm ci --no-audit --no-fund --prefix tests/tools` (axe-core, vnu-jar), Debian's
`chromium` and a Java runtime; `.ci/run` installs all of them. Site pages need
`<link rel="icon" href="data:,">` in their head: without it the browser may ask for /favicon.ico,
and the 404 shows up as a console error.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

#: The repository root.
ROOT = Path(__file__).resolve().parent.parent.parent
#: Where `npm ci --prefix tests/tools` installs axe-core and vnu-jar.
NODE_MODULES = ROOT / "tests" / "tools" / "node_modules"


def node_tools() -> Path:
    """The npm test tools, installed from the committed lock file the first time they are
    needed, so that `python -m pytest` works on a machine where nobody ran `npm ci` yet."""
    if not (NODE_MODULES / ".package-lock.json").is_file():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(NODE_MODULES.parent)],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=600,
        )
    return NODE_MODULES
