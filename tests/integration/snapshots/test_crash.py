"""SIGKILL a process in the middle of snapshot work, many times: the state stays whole."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dockyard.store.snapshots import CopySnapshotter, OverlaySnapshotter, Snapshotter

pytestmark = pytest.mark.root

WORKER = """
import sys
from pathlib import Path
from dockyard.store.snapshots import CopySnapshotter, OverlaySnapshotter
if sys.argv[2] == "overlay":
    snap = OverlaySnapshotter(Path(sys.argv[1]), alias_dir=Path(sys.argv[4]))
else:
    snap = CopySnapshotter(Path(sys.argv[1]))
n = int(sys.argv[3])
parent = None  # a fresh chain each round: deep enough, never too deep to mount
for i in range(n, n + 1000):
    key = f"a{i}"
    snap.prepare(key, parent)
    d = snap.apply_dir(key)
    for j in range(20):
        (d / f"f{i}-{j}").write_bytes(b"x" * 1000)
    snap.commit(f"c{i}", key)
    snap.prepare(f"v{i}", f"c{i}")
    snap.remove(f"v{i}")
    parent = f"c{i}"
"""


def check_consistent(snap: Snapshotter) -> None:
    infos = {i.name: i for i in snap.list()}
    ids = {str(i.id) for i in infos.values()}
    assert set(os.listdir(snap.snapshots_dir)) == ids  # no orphan, nothing missing
    for info in infos.values():
        if info.parent is not None:
            assert info.parent in infos and infos[info.parent].kind == "committed"
        if info.kind != "view":
            assert snap.fs_dir(info.id).is_dir()
    if isinstance(snap, OverlaySnapshotter):
        links = set(os.listdir(snap.links_dir))
        for link in links:
            assert (snap.links_dir / link).resolve().is_dir(), link
    assert not list(snap.root.glob(".state.json.*.tmp"))


@pytest.mark.parametrize("kind", ["overlay", "copy"])
def test_sigkill_anywhere(kind: str, tmp_path: Path) -> None:
    cls: type[Snapshotter] = OverlaySnapshotter if kind == "overlay" else CopySnapshotter
    root = tmp_path / "snap"
    rng = random.Random(7)
    alias_dir = Path(f"/run/dyt-c{os.getpid() % 1000}")
    deadline = time.monotonic() + 40
    rounds = 0
    for rounds in range(1, 25):
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(root), kind, str(rounds * 1000), str(alias_dir)],
        )
        time.sleep(rng.uniform(0.15, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        snap = cls(root)  # opening sweeps what the kill left
        check_consistent(snap)
        if time.monotonic() > deadline:
            break
    shutil.rmtree(alias_dir, ignore_errors=True)
    snap = cls(root)
    committed = [i for i in snap.list() if i.kind == "committed"]
    assert committed, "the workers never got to commit anything"
    assert rounds >= 5
