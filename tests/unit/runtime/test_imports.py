"""dockyard-runc starts for every container: its hot path must stay light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


# What `run` loads as the launcher starts it (python -I -S, src appended): the stdlib
# modules below cost milliseconds each (or pull in ones that do) and are not needed.
RUN_PATH = [
    *HOT,
    "dockyard.runtime.cgroup",
    "dockyard.runtime.finalize",
    "dockyard.linux.cgroups",
    "dockyard.linux.paths",
]
RUN_HEAVY = [
    *HEAVY,
    "functools",
    "collections",
    "contextlib",
    "enum",
    "signal",
    "warnings",
    "math",
    "resource",
    "dockyard.runtime.hooks",
]


def test_run_path_loads_no_avoidable_module() -> None:
    import dockyard

    src = str(Path(dockyard.__file__).resolve().parent.parent)
    code = (
        f"import sys\nsys.path.append({src!r})\n"
        + "".join(f"import {m}\n" for m in RUN_PATH)
        + f"print(','.join(m for m in {RUN_HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"avoidable modules on the run path: {out.stdout.strip()}"
