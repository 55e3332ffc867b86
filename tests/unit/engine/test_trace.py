"""DOCKYARD_TRACE: phase marks go to the named file, and nowhere when it is unset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = (
    "from dockyard.engine import trace\n"
    "print(trace.enabled())\n"
    "trace.mark('first phase')\n"
    "trace.mark('second phase')\n"
)


def _run(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_marks_are_written_in_order(tmp_path: Path) -> None:
    path = tmp_path / "trace.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_TRACE")}
    env["DOCKYARD_TRACE"] = str(path)
    assert _run(env) == "True"
    lines = path.read_text().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == ["first phase", "second phase"]
    pid, t1 = lines[0].split()[:2]
    assert int(pid) > 0
    assert float(lines[1].split()[1]) >= float(t1)


def test_memory_figure_on_request(tmp_path: Path) -> None:
    path = tmp_path / "trace.txt"
    env = dict(os.environ, DOCKYARD_TRACE=str(path), DOCKYARD_TRACE_MEMORY="1")
    _run(env)
    assert all("[private dirty " in line for line in path.read_text().splitlines())


def test_off_without_the_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_TRACE")}
    env["HOME"] = str(tmp_path)
    assert _run(env) == "False"
    assert list(tmp_path.iterdir()) == []
