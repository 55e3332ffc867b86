"""cp's view of a container: the rootfs with volumes and binds over it, never leaving it."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.engine import archive
from dockyard.engine.errors import InvalidParameter, NotFound
from dockyard.engine.mountpoints import (
    ContainerFS,
    MountPoint,
    components,
    covering,
    mount_points,
)


def test_components_are_lexical_and_stop_at_root() -> None:
    assert components("/a/./b//c/") == ("a", "b", "c")
    assert components("../../x/../y") == ("y",)
    assert components("/") == ()


def test_mount_points_from_records(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("127.0.0.1 localhost\n")
    (tmp_path / "resolv.conf").write_text("")
    records = [
        {"Type": "volume", "Source": "/v/data", "Destination": "/data/", "RW": True},
        {"Type": "bind", "Source": "/srv", "Destination": "/srv", "RW": False},
        {"Type": "tmpfs", "Source": "", "Destination": "/run", "RW": True},
        {"Type": "bind", "Source": "/my/resolv", "Destination": "/etc/resolv.conf", "RW": True},
    ]
    got = mount_points(records, tmp_path)
    assert [(m.destination, m.source, m.writable, m.volume) for m in got] == [
        ("/data", "/v/data", True, True),
        ("/srv", "/srv", False, True),
        ("/etc/resolv.conf", "/my/resolv", True, True),
        # hostname was never written; resolv.conf is the user's bind, not ours
        ("/etc/hosts", str(tmp_path / "hosts"), True, False),
    ]


def test_covering_picks_the_deepest_mount() -> None:
    a = MountPoint("/data", "/a", True, True)
    b = MountPoint("/data/inner", "/b", False, True)
    assert covering([b, a], ("data", "inner", "x")) is b
    assert covering([a, b], ("data", "innerx")) is a
    assert covering([a, b], ("etc",)) is None


@pytest.fixture
def view(tmp_path: Path) -> tuple[Path, list[MountPoint]]:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("container passwd\n")
    (root / "data").mkdir()
    (root / "data" / "hidden").write_text("under the volume\n")
    (root / "var").mkdir()
    os.symlink("/var", root / "link")
    vol = tmp_path / "vol"
    (vol / "inner").mkdir(parents=True)
    (vol / "f").write_text("in volume\n")
    os.symlink("/etc/passwd", vol / "abs")
    os.symlink("../../../../../../etc", vol / "climb")
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "g").write_text("in inner\n")
    ro = tmp_path / "ro"
    ro.mkdir()
    host_file = tmp_path / "hostfile"
    host_file.write_text("bound file\n")
    mounts = [
        MountPoint("/data/inner", str(inner), True, True),  # listed before its parent
        MountPoint("/data", str(vol), True, True),
        MountPoint("/link/ro", str(ro), False, True),  # through a symlink: lands on /var/ro
        MountPoint("/etc/hosts", str(host_file), True, False),
    ]
    return root, mounts


def _read(root: Path, mounts: list[MountPoint], path: str, member: str) -> bytes:
    buf = io.BytesIO()
    archive.write_archive(str(root), path, buf, mounts)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        f = tar.extractfile(member)
        assert f is not None
        return f.read()


def test_reads_go_to_the_deepest_mount(view: tuple[Path, list[MountPoint]]) -> None:
    root, mounts = view
    assert _read(root, mounts, "/data/f", "f") == b"in volume\n"
    assert _read(root, mounts, "/data/inner/g", "g") == b"in inner\n"
    assert _read(root, mounts, "/etc/hosts", "hosts") == b"bound file\n"
    with pytest.raises(NotFound):
        archive.stat_path(str(root), "/data/hidden", mounts)


def test_symlinks_in_a_volume_resolve_in_the_container(
    view: tuple[Path, list[MountPoint]],
) -> None:
    root, mounts = view
    # /data/abs -> /etc/passwd is the container's file, not the host's or the volume's.
    buf = io.BytesIO()
    archive.write_archive(str(root), "/data/abs", buf, mounts)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        link = tar.getmember("abs")
        assert link.issym() and link.linkname == "/etc/passwd"
    st = archive.stat_path(str(root), "/data/abs", mounts)
    assert st.link_target == "/etc/passwd"
    assert _read(root, mounts, "/data/climb/passwd", "passwd") == b"container passwd\n"
    # ".." out of a mount goes to the mount point's parent in the container.
    assert _read(root, mounts, "/data/inner/../f", "f") == b"in volume\n"
    assert _read(root, mounts, "/data/../etc/passwd", "passwd") == b"container passwd\n"


def test_a_directory_tree_includes_its_mounts(view: tuple[Path, list[MountPoint]]) -> None:
    root, mounts = view
    buf = io.BytesIO()
    archive.write_archive(str(root), "/", buf, mounts)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        names = set(tar.getnames())
        hosts = tar.extractfile("./etc/hosts" if "./etc/hosts" in names else "etc/hosts")
        assert hosts is not None and hosts.read() == b"bound file\n"
    strip = {n.removeprefix("./") for n in names}
    assert {"data/f", "data/inner/g", "var/ro", "etc/passwd"} <= strip
    assert "data/hidden" not in strip  # covered by the volume


def test_mount_destination_through_a_symlink(view: tuple[Path, list[MountPoint]]) -> None:
    root, mounts = view
    with ContainerFS(str(root), mounts) as fs:
        where, fd = fs.resolve("/link/ro/", follow_last=True)
        os.close(fd)
        assert where == ("var", "ro")
        owner = fs.owner(where)
        assert owner is not None and owner.destination == "/link/ro"


def test_put_into_a_volume_and_refusals(view: tuple[Path, list[MountPoint]]) -> None:
    root, mounts = view
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        ti = tarfile.TarInfo("new.txt")
        ti.size = 3
        tar.addfile(ti, io.BytesIO(b"new"))
    archive.put_archive(str(root), "/data/inner", io.BytesIO(data.getvalue()), mounts)
    inner = Path(mounts[0].source)
    assert (inner / "new.txt").read_bytes() == b"new"
    assert not (root / "data" / "inner" / "new.txt").exists()
    with pytest.raises(archive.ReadOnlyTarget, match="mounted volume is marked read-only"):
        archive.put_archive(str(root), "/var/ro", io.BytesIO(data.getvalue()), mounts)
    with pytest.raises(archive.ReadOnlyTarget, match="container rootfs is marked read-only"):
        archive.put_archive(
            str(root), "/etc", io.BytesIO(data.getvalue()), mounts, read_only_rootfs=True
        )
    # A writable volume in a read-only rootfs still takes files, as with Docker.
    archive.put_archive(
        str(root), "/data", io.BytesIO(data.getvalue()), mounts, read_only_rootfs=True
    )
    assert (Path(mounts[1].source) / "new.txt").exists()
    with pytest.raises(InvalidParameter, match="not a directory"):
        archive.put_archive(str(root), "/data/f", io.BytesIO(data.getvalue()), mounts)
    with pytest.raises(NotFound):
        archive.put_archive(str(root), "/nope", io.BytesIO(data.getvalue()), mounts)


def test_symlink_loops_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.symlink("b", root / "a")
    os.symlink("a", root / "b")
    with pytest.raises(InvalidParameter):
        archive.stat_path(str(root), "/a/x")


def _tar(*entries: tuple[str, str, bytes]) -> io.BytesIO:
    """(name, kind, data): kind "f" file, "d" directory, "l" hard link to data's name."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, data in entries:
            ti = tarfile.TarInfo(name)
            if kind == "d":
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                tar.addfile(ti)
            elif kind == "l":
                ti.type = tarfile.LNKTYPE
                ti.linkname = data.decode()
                tar.addfile(ti)
            else:
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_route_names_to_the_deepest_mount_below() -> None:
    from dockyard.engine.mountpoints import route

    keys = [("data",), ("data", "inner"), ("etc", "hosts")]
    assert route((), "./data/n.txt", keys) == (("data",), "n.txt")
    assert route((), "data/", keys) == (("data",), ".")
    assert route((), "data/innerx", keys) == (("data",), "innerx")
    assert route((), "data/inner/x", keys) == (("data", "inner"), "x")
    assert route((), "top", keys) == ((), "top")
    assert route(("data",), "inner/q", keys) == (("data", "inner"), "q")
    assert route((), "../x", keys) is None
    assert route((), "a/../../x", keys) is None


def test_put_a_tree_spreads_over_the_mounts_below(view: tuple[Path, list[MountPoint]]) -> None:
    root, mounts = view
    rw = [m for m in mounts if m.writable]
    tree = _tar(
        (".", "d", b""),
        ("top.txt", "f", b"top"),
        ("data", "d", b""),
        ("data/n.txt", "f", b"in volume"),
        ("data/inner/deep.txt", "f", b"in inner"),
        ("data/inner/hard", "l", b"data/inner/deep.txt"),
        ("etc/hosts", "f", b"10.0.0.1 x\n"),
        ("etc/other", "f", b"rootfs etc"),
        ("after.txt", "f", b"after"),
    )
    archive.put_archive(str(root), "/", tree, rw)
    vol, inner, host_file = (Path(m.source) for m in (rw[1], rw[0], rw[2]))
    assert (root / "top.txt").read_bytes() == b"top"
    assert (root / "after.txt").read_bytes() == b"after"
    assert (vol / "n.txt").read_bytes() == b"in volume"
    assert not (root / "data" / "n.txt").exists()
    assert (inner / "deep.txt").read_bytes() == b"in inner"
    assert os.path.samefile(inner / "hard", inner / "deep.txt")
    assert host_file.read_bytes() == b"10.0.0.1 x\n"  # a file bind mount takes the content
    assert (root / "etc" / "other").read_bytes() == b"rootfs etc"


def test_put_a_tree_refusals(view: tuple[Path, list[MountPoint]]) -> None:
    root, mounts = view
    ro = MountPoint("/data/inner", mounts[0].source, False, True)
    with_ro = [ro, *mounts[1:]]
    with pytest.raises(archive.ReadOnlyTarget, match="mounted volume is marked read-only"):
        archive.put_archive(str(root), "/data", _tar(("inner/x", "f", b"x")), with_ro)
    assert not (Path(ro.source) / "x").exists()
    with pytest.raises(InvalidParameter, match="crosses a mount point"):
        archive.put_archive(str(root), "/", _tar(("a", "f", b"a"), ("data/b", "l", b"a")), mounts)
    with pytest.raises(InvalidParameter, match="replace a mount point"):
        archive.put_archive(str(root), "/", _tar(("data", "f", b"not a dir")), mounts)
    with pytest.raises(InvalidParameter, match="leaves the directory"):
        archive.put_archive(str(root), "/data", _tar(("../escape", "f", b"x")), mounts)
    assert not (root / "escape").exists()


def test_put_a_large_tree_through_the_router(view: tuple[Path, list[MountPoint]]) -> None:
    root, mounts = view
    big = os.urandom(3 << 20)
    tree = _tar(
        ("a.bin", "f", big),
        ("data/b.bin", "f", big),
        ("c.bin", "f", big),
        ("data/inner/d.bin", "f", big),
    )
    archive.put_archive(str(root), "/", tree, mounts)
    assert (root / "a.bin").read_bytes() == big and (root / "c.bin").read_bytes() == big
    assert (Path(mounts[1].source) / "b.bin").read_bytes() == big
    assert (Path(mounts[0].source) / "d.bin").read_bytes() == big
