"""Unpacking images into snapshots with the real snapshotters (overlayfs and copy)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from dockyard.oci.digest import Digest
from dockyard.store.bootstrap import bootstrap_busybox
from dockyard.store.errors import UnpackError
from dockyard.store.images import ImageStore
from dockyard.store.snapshots import (
    CopySnapshotter,
    Mount,
    OverlaySnapshotter,
    overlay_supported,
)

pytestmark = pytest.mark.root


def diff_tar() -> bytes:
    """A layer that deletes /etc/group (OCI whiteout) and adds /etc/motd."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (("etc/.wh.group", b""), ("etc/motd", b"welcome\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def two_layer_image(store: ImageStore) -> str:
    base = bootstrap_busybox(store)
    return store.commit(io.BytesIO(diff_tar()), base, None, "two:1")


def test_copy_snapshotter_unpack(tmp_path: Path) -> None:
    snap = CopySnapshotter(tmp_path / "snaps")
    store = ImageStore(tmp_path / "store", snap)
    image = two_layer_image(store)
    top = store.ensure_unpacked(image)
    assert top == store.get(image).chain_id
    assert [snap.exists(x.chain_id) for x in store.layers(image)] == [True, True]
    snap.prepare("ctr", top)
    tree = snap.upper_dir("ctr")
    assert (tree / "bin/busybox").is_file() and (tree / "bin/sh").is_symlink()
    assert (tree / "etc/motd").read_bytes() == b"welcome\n"
    assert not (tree / "etc/group").exists()
    assert (tree / "tmp").stat().st_mode & 0o7777 == 0o1777
    # idempotent, and the snapshots are recorded for GC
    assert store.ensure_unpacked("two:1") == top
    assert {s.chain_id for s in store.meta.list_snapshots()} == {
        x.chain_id for x in store.layers(image)
    }
    snap.remove("ctr")
    # removing the images removes their snapshots
    store.remove("two:1")
    store.remove("busybox")
    assert snap.list() == []


def test_overlay_snapshotter_unpack(tmp_path: Path) -> None:
    if not overlay_supported(tmp_path / "probe"):
        pytest.skip("overlayfs is not usable here")
    snap = OverlaySnapshotter(tmp_path / "snaps")
    store = ImageStore(tmp_path / "store", snap)
    image = two_layer_image(store)
    top = store.ensure_unpacked(image)
    [mount] = snap.view("look", top)
    target = tmp_path / "mnt"
    target.mkdir()
    cmd = ["mount", "-t", mount.type, "-o", ",".join(mount.options), mount.source, str(target)]
    subprocess.run(cmd, check=True)
    try:
        assert (target / "bin/busybox").is_file()
        assert (target / "etc/motd").read_bytes() == b"welcome\n"
        assert not (target / "etc/group").exists()  # the overlay whiteout hides it
        assert (target / "etc/passwd").exists()
    finally:
        subprocess.run(["umount", str(target)], check=True)
    snap.remove("look")


def test_corrupt_layer_fails_unpack_and_leaves_no_snapshot(tmp_path: Path) -> None:
    snap = CopySnapshotter(tmp_path / "snaps")
    store = ImageStore(tmp_path / "store", snap)
    image = bootstrap_busybox(store)
    [layer] = store.layers(image)
    blob = store.content.blob_path(Digest.parse(layer.blob_digest))
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[700] ^= 0xFF  # inside the tar: content changes, so does the diff_id
    blob.write_bytes(bytes(data))
    with pytest.raises(UnpackError):
        store.ensure_unpacked(image)
    assert snap.list() == []


def mount(m: Mount, target: Path) -> None:
    opts = ",".join(m.options)
    subprocess.run(["mount", "-t", m.type, "-o", opts, m.source, str(target)], check=True)


def test_commit_an_overlay_container_and_run_it_again(tmp_path: Path) -> None:
    """The engine's flow: unpack, prepare a container snapshot, change it, commit the upper."""
    if not overlay_supported(tmp_path / "probe"):
        pytest.skip("overlayfs is not usable here")
    snap = OverlaySnapshotter(tmp_path / "snaps")
    store = ImageStore(tmp_path / "store", snap)
    base = bootstrap_busybox(store)
    [m] = snap.prepare("ctr", store.ensure_unpacked(base))
    root = tmp_path / "rootfs"
    root.mkdir()
    mount(m, root)
    try:
        (root / "etc/group").unlink()
        (root / "srv").mkdir()
        (root / "srv/hello").write_text("from the container\n")
    finally:
        subprocess.run(["umount", str(root)], check=True)
    image = store.commit(snap.upper_dir("ctr"), base, {"Cmd": ["cat", "/srv/hello"]}, "made:1")
    store.add_image_use("ctr", base)
    [_, layer] = store.layers(image)
    with store.content.open(Digest.parse(layer.blob_digest)) as f, tarfile.open(fileobj=f) as tf:
        names = set(tf.getnames())
    assert {"etc/.wh.group", "srv/hello"} <= names
    [m2] = snap.view("check", store.ensure_unpacked(image))
    mount(m2, root)
    try:
        assert not (root / "etc/group").exists()
        assert (root / "srv/hello").read_text() == "from the container\n"
        assert (root / "bin/busybox").is_file()
    finally:
        subprocess.run(["umount", str(root)], check=True)
    snap.remove("check")
    store.verify(image, deep=True)


def test_gc_removes_unrecorded_layer_snapshots(tmp_path: Path) -> None:
    snap = CopySnapshotter(tmp_path / "snaps")
    store = ImageStore(tmp_path / "store", snap)
    image = bootstrap_busybox(store)
    chain = store.ensure_unpacked(image)
    # a crash between the snapshot commit and its metadata record leaves these behind
    orphan, child = "sha256:" + "e" * 64, "sha256:" + "f" * 64
    snap.prepare("k1", None)
    snap.commit(orphan, "k1")
    snap.prepare("k2", orphan)
    snap.commit(child, "k2")
    snap.prepare("container-1", chain)  # an active snapshot: never the GC's business
    result = store.gc()
    assert sorted(result.snapshots_removed) == [orphan, child]
    assert snap.exists(str(chain)) and snap.exists("container-1")
    store.verify(image)


def test_default_snapshotter_is_made_lazily_and_swept_at_open(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "store")
    image = bootstrap_busybox(store)
    assert not (tmp_path / "store/snapshots").exists()  # nothing unpacked, nothing made
    chain = store.ensure_unpacked(image)
    assert store.snapshotter.exists(str(chain))
    store.remove("busybox")  # takes its snapshot along
    assert not store.snapshotter.exists(str(chain))
    image = bootstrap_busybox(store)
    chain = store.ensure_unpacked(image)
    store.meta.remove_snapshot(str(chain))  # as if a crash lost the record...
    store.meta.delete_image(image)  # ...and the image went too
    reopened = ImageStore(tmp_path / "store")
    assert reopened.recovered is not None and str(chain) in reopened.recovered.snapshots_removed
    assert not reopened.snapshotter.exists(str(chain))
