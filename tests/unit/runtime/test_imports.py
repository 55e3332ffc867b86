"""dockyard-runc starts for every container: its hot path must stay light."""

from __future__ import annotations

import subprocess
import sys

HOT = [
    "dockyard.runtime.cli",
    "dockyard.runtime.run",
    "dockyard.runtime.create",
    "dockyard.runtime.lifecycle",
    "dockyard.runtime.rootfs",
    "dockyard.runtime.execute",
]
HEAVY = [
    "json",
    "re",
    "typing",
    "dataclasses",
    "subprocess",
    "asyncio",
    "aiohttp",
    "socket",
    "inspect",
    "tempfile",
    "shutil",
]
HEAVY += ["dockyard.store", "dockyard.engine", "dockyard.api"]


def test_hot_path_imports_stay_light() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in HOT)
        + f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules on the hot path: {out.stdout.strip()}"
