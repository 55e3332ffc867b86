"""SIGKILL an import/load/commit at random points; the store must reopen clean every time."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from store_testlib import tar_bytes

from dockyard.store.bootstrap import bootstrap_busybox
from dockyard.store.images import ImageStore
from dockyard.store.snapshots import CopySnapshotter

pytestmark = [pytest.mark.root, pytest.mark.slow]

KILLS = 15

WORKER = """
import io, sys
from pathlib import Path
from dockyard.store.images import ImageStore

from dockyard.store.snapshots import CopySnapshotter

root, archive, rootfs = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
store = ImageStore(root, CopySnapshotter(root / "snaps"))
print("ready", flush=True)
for i in range(10_000):
    with open(archive, "rb") as f:
        store.load(f)
    with open(rootfs, "rb") as f:
        imported = store.import_rootfs(f, f"imp:{i % 3}", ["ENV I=%d" % i])
    with open(rootfs, "rb") as f:
        committed = store.commit(f, imported, {"Cmd": ["true"]}, f"com:{i % 2}")
    store.ensure_unpacked(committed)
    store.remove(f"imp:{i % 3}", force=True)
"""


def check_clean(root: Path) -> int:
    snap = CopySnapshotter(root / "snaps")
    store = ImageStore(root, snap)
    try:
        keys = [i.name for i in snap.list()]
        assert not [k for k in keys if k.startswith("extract-")], keys
        for snaprec in store.meta.list_snapshots():
            assert snap.exists(snaprec.chain_id), snaprec
        images = store.meta.list_images()
        assert store.verify_all() == {}
        assert store.meta.leases() == []
        leftovers = [i.ref for i in store.content.ingests()]
        assert leftovers == [], leftovers
        counts = store.meta.blob_refcounts()
        orphans = [str(b.digest) for b in store.content.walk() if str(b.digest) not in counts]
        assert orphans == [], orphans
        for ref in store.meta.all_refs():
            assert store.meta.get_image(ref.image_id) is not None
        return len(images)
    finally:
        store.close()


def test_sigkill_during_writes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    seed = ImageStore(tmp_path / "seed")
    bootstrap_busybox(seed)
    archive = tmp_path / "busybox.tar"
    with open(archive, "wb") as f:
        seed.save(["busybox"], f)
    rng = random.Random(int(os.environ.get("CRASH_SEED", "1234")))
    files = {f"data/f{i}": rng.randbytes(rng.randint(1, 200_000)) for i in range(40)}
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(tar_bytes(files, dirs=("data",)))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    seen_images = 0
    for _ in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(root), str(archive), str(rootfs)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            # its own process group: the kill takes helpers (cp of the copy snapshotter) too,
            # as a service manager killing the daemon's cgroup would
            start_new_session=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != b"ready":
            proc.kill()
            pytest.fail(f"worker did not start: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        time.sleep(rng.uniform(0.0, 0.6))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        seen_images = max(seen_images, check_clean(root))
    assert seen_images > 0, "the worker never finished one operation: kills came too early"
    store = ImageStore(root)
    [loaded] = store.load(io.BytesIO(archive.read_bytes()))
    store.verify(loaded.image_id, deep=True)


CONCURRENT = """
import sys
from pathlib import Path
from dockyard.store.images import ImageStore

store = ImageStore(Path(sys.argv[1]))
for _ in range(5):
    with open(sys.argv[2], "rb") as f:
        [img] = store.load(f)
    store.verify(img.image_id)
print(img.image_id)
"""


def test_concurrent_loads_from_several_processes(tmp_path: Path) -> None:
    seed = ImageStore(tmp_path / "seed")
    image = bootstrap_busybox(seed)
    archive = tmp_path / "bb.tar"
    with open(archive, "wb") as f:
        seed.save(["busybox"], f)
    root = tmp_path / "shared"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT, str(root), str(archive)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == image
    assert check_clean(root) == 1
