"""`dockyard-runc run` against `runc run` on the same busybox bundle running `true`.

    .venv/bin/python bench/runc_bench.py [--runs N]

Runs are interleaved (dockyard, runc, dockyard, ...) so both see the same machine load;
prints the median wall time of each and the ratio dockyard/runc (target: <= 1.0).
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


def _time(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--runc", default=shutil.which("runc") or "runc")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("runc_bench needs root")
    # Installed packages ship bytecode; make sure ours is compiled even under
    # PYTHONDONTWRITEBYTECODE, so we measure the runtime and not the compiler.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "src" / "dockyard")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    mine: list[float] = []
    theirs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="runc-bench-") as tmp:
        bundle = make_bundle(Path(tmp) / "bundle")
        root_a = Path(tmp) / "state-dockyard"
        root_b = Path(tmp) / "state-runc"
        for i in range(args.runs + 1):
            a = [str(DOCKYARD_RUNC), "--root", str(root_a), "run", "--bundle", str(bundle), f"b{i}"]
            b = [args.runc, "--root", str(root_b), "run", "--bundle", str(bundle), f"b{i}"]
            ta, tb = _time(a), _time(b)
            if i:  # the first pair warms caches
                mine.append(ta)
                theirs.append(tb)
    med_a, med_b = statistics.median(mine), statistics.median(theirs)
    result = {
        "runs": args.runs,
        "dockyard_runc_median_ms": round(med_a * 1000, 1),
        "runc_median_ms": round(med_b * 1000, 1),
        "ratio": round(med_a / med_b, 2),
    }
    print(
        f"dockyard-runc run: median {result['dockyard_runc_median_ms']} ms\n"
        f"runc run:          median {result['runc_median_ms']} ms\n"
        f"ratio dockyard/runc: {result['ratio']} (target <= 1.0), {args.runs} runs each"
    )
    return result


if __name__ == "__main__":
    main()
