"""`dockyard-runc run` against `runc run` on the same busybox bundle running `true`.

    .venv/bin/python bench/runc_bench.py [--runs N] [--cpu]

Runs are interleaved (dockyard, runc, dockyard, ...) so both see the same machine load;
prints the median wall time of each and the ratio dockyard/runc (target: <= 1.0), with the
load average before and after. --cpu also reports the median CPU time (user+system of the
whole process tree, from wait4's rusage), which varies far less with load than wall time.

Measures .venv/bin/dockyard-runc as set up: first (re)installs the fast launcher, as
scripts/setup.sh does (`python -m dockyard.runtime.launcher --install .venv`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DOCKYARD_RUNC = REPO / ".venv" / "bin" / "dockyard-runc"


def make_bundle(dest: Path) -> Path:
    rootfs = dest / "rootfs"
    for d in ("bin", "dev", "proc", "sys", "etc", "tmp"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2("/bin/busybox", rootfs / "bin" / "busybox")
    for applet in ("true", "sh"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    subprocess.run([str(DOCKYARD_RUNC), "spec", "--bundle", str(dest)], check=True)
    cfg = json.loads((dest / "config.json").read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["true"]
    (dest / "config.json").write_text(json.dumps(cfg))
    return dest


def _time(cmd: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user+system of the process and its reaped descendants)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise subprocess.CalledProcessError(p.returncode, cmd)
    return wall, ru.ru_utime + ru.ru_stime


def _launcher_kind() -> str:
    from dockyard.runtime.launcher import MARKER

    try:
        text = DOCKYARD_RUNC.read_text()
    except OSError:
        return "missing"
    return "fast launcher" if MARKER in text else "pip console script (slower start-up)"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--runc", default=shutil.which("runc") or "runc")
    ap.add_argument("--cpu", action="store_true", help="also report median CPU time")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("runc_bench needs root")
    # The set-up step scripts/setup.sh runs (idempotent): the fast launcher, and our
    # bytecode compiled even under PYTHONDONTWRITEBYTECODE, so that we measure the runtime,
    # not the compiler. (A later `pip install -e .` puts pip's console script back.)
    subprocess.run(
        [sys.executable, "-m", "dockyard.runtime.launcher", "--install", str(REPO / ".venv")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    mine: list[float] = []
    theirs: list[float] = []
    cpu_mine: list[float] = []
    cpu_theirs: list[float] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="runc-bench-") as tmp:
        bundle = make_bundle(Path(tmp) / "bundle")
        root_a = Path(tmp) / "state-dockyard"
        root_b = Path(tmp) / "state-runc"
        for i in range(args.runs + 1):
            a = [str(DOCKYARD_RUNC), "--root", str(root_a), "run", "--bundle", str(bundle), f"b{i}"]
            b = [args.runc, "--root", str(root_b), "run", "--bundle", str(bundle), f"b{i}"]
            (ta, ca), (tb, cb) = _time(a), _time(b)
            if i:  # the first pair warms caches
                mine.append(ta)
                theirs.append(tb)
                cpu_mine.append(ca)
                cpu_theirs.append(cb)
    med_a, med_b = statistics.median(mine), statistics.median(theirs)
    result: dict[str, Any] = {
        "runs": args.runs,
        "dockyard_runc_median_ms": round(med_a * 1000, 1),
        "runc_median_ms": round(med_b * 1000, 1),
        "ratio": round(med_a / med_b, 2),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "launcher": _launcher_kind(),
    }
    print(
        f"dockyard-runc ({result['launcher']})\n"
        f"dockyard-runc run: median {result['dockyard_runc_median_ms']} ms\n"
        f"runc run:          median {result['runc_median_ms']} ms\n"
        f"ratio dockyard/runc: {result['ratio']} (target <= 1.0), {args.runs} runs each, "
        f"load average {result['load_before']} -> {result['load_after']}"
    )
    if args.cpu:
        cm, ct = statistics.median(cpu_mine), statistics.median(cpu_theirs)
        result["dockyard_runc_cpu_ms"] = round(cm * 1000, 1)
        result["runc_cpu_ms"] = round(ct * 1000, 1)
        print(
            f"CPU time (user+sys, process tree): dockyard-runc {result['dockyard_runc_cpu_ms']} "
            f"ms, runc {result['runc_cpu_ms']} ms, ratio {round(cm / ct, 2)}"
        )
    return result


if __name__ == "__main__":
    main()
