"""Deterministic trees and tree diffs: write → apply → same tree, same digest."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from types import ModuleType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.store.layers import apply_layer, tree_changes, write_tree, write_tree_diff


def build(root: Path, order: list[str]) -> None:
    """The same tree, with entries created in the given order (different inode order)."""
    content = {"b/x": b"bx", "a/y": b"ay" * 300, "c": b"c", "a/z/deep": b"d"}
    root.mkdir()
    for name in order:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content[name])
        os.utime(p, (1_600_000_000.25, 1_600_000_000.25))
    (root / "l").symlink_to("c")
    os.link(root / "c", root / "hl")
    for d in ("a/z", "a", "b", ""):
        os.utime(root / d, (1_600_000_000, 1_600_000_000))
    os.chmod(root / "c", 0o755)


def digest(root: Path, **kw: int) -> tuple[str, bytes]:
    out = io.BytesIO()
    d = write_tree(root, out, **kw)
    return d.diff_id, out.getvalue()


def test_same_tree_same_digest(tmp_path: Path) -> None:
    build(tmp_path / "one", ["b/x", "a/y", "c", "a/z/deep"])
    build(tmp_path / "two", ["a/z/deep", "c", "a/y", "b/x"])
    d1, tar1 = digest(tmp_path / "one")
    d2, _ = digest(tmp_path / "two")
    assert d1 == d2
    with tarfile.open(fileobj=io.BytesIO(tar1)) as tf:
        names = tf.getnames()
        hl = tf.getmember("hl")
    assert names == ["a", "a/y", "a/z", "a/z/deep", "b", "b/x", "c", "hl", "l"]
    assert hl.islnk() and hl.linkname == "c"
    os.utime(tmp_path / "two" / "c", (1_700_000_000, 1_700_000_000))
    assert digest(tmp_path / "two")[0] != d1
    # ...unless SOURCE_DATE_EPOCH clamps both times to the same value.
    assert (
        digest(tmp_path / "one", source_date_epoch=1_000)[0]
        == digest(tmp_path / "two", source_date_epoch=1_000)[0]
    )


def test_tree_roundtrip(tmp_path: Path) -> None:
    build(tmp_path / "src", ["b/x", "a/y", "c", "a/z/deep"])
    d1, tar = digest(tmp_path / "src")
    (tmp_path / "dst").mkdir()
    applied = apply_layer(io.BytesIO(tar), tmp_path / "dst")
    assert applied.diff_id == d1
    assert digest(tmp_path / "dst")[0] == d1


def test_tree_diff_reapplies(tmp_path: Path, tb: ModuleType) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    build(lower, ["b/x", "a/y", "c", "a/z/deep"])
    build(upper, ["b/x", "a/y", "c", "a/z/deep"])
    # upper: one file changed, one deleted, a dir deleted, one added, a type change
    (upper / "b" / "x").write_bytes(b"changed")
    (upper / "c").unlink()
    (upper / "hl").unlink()
    (upper / "c").mkdir()
    (upper / "c" / "inside").write_bytes(b"i")
    for p in (upper / "a" / "z" / "deep", upper / "a" / "z"):
        p.unlink() if p.is_file() else p.rmdir()
    (upper / "new").write_bytes(b"n")
    changes = tree_changes(lower, upper)
    assert ("C", "/b/x") in changes and ("D", "/a/z") in changes
    assert ("A", "/new") in changes and ("A", "/c/inside") in changes
    assert ("D", "/hl") in changes and ("C", "/b") in changes
    assert not any(p == "/a/y" for _, p in changes)
    # lower + diff == upper
    out = io.BytesIO()
    write_tree_diff(lower, upper, out)
    work = tmp_path / "work"
    work.mkdir()
    apply_layer(io.BytesIO(digest(lower)[1]), work)
    apply_layer(io.BytesIO(out.getvalue()), work)
    assert _seconds(tb.tree_state(work)) == _seconds(tb.tree_state(upper))


def _seconds(state: dict[str, tuple[object, ...]]) -> dict[str, tuple[object, ...]]:
    """Tar headers keep whole seconds: compare mtimes at that precision."""
    out = {}
    for k, v in state.items():
        mtime = v[4]
        assert isinstance(mtime, int)
        out[k] = (*v[:4], mtime // 1_000_000_000, *v[5:])
    return out


names = st.lists(st.sampled_from(["a", "b", "c", "a/b", "a/c", "b/a", "a/b/c"]), unique=True)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names, names, st.binary(max_size=40))
def test_tree_diff_property(
    tmp_path_factory: object, low: list[str], up: list[str], body: bytes
) -> None:
    base = Path(tmp_path_factory.mktemp("p"))  # type: ignore[attr-defined]
    trees = {}
    for label, files in (("lower", low), ("upper", up)):
        root = base / label
        root.mkdir()
        for f in files:
            p = root / f
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
                if not p.exists():
                    p.write_bytes(body + label.encode())
            except (FileExistsError, NotADirectoryError):
                pass  # a file where a dir is wanted: the tree just lacks it
        trees[label] = root
    work = base / "work"
    work.mkdir()
    full = io.BytesIO()
    write_tree(trees["lower"], full)
    apply_layer(io.BytesIO(full.getvalue()), work)
    diff = io.BytesIO()
    write_tree_diff(trees["lower"], trees["upper"], diff)
    apply_layer(io.BytesIO(diff.getvalue()), work)
    got = {
        str(p.relative_to(work)): p.read_bytes() if p.is_file() else None for p in work.rglob("*")
    }
    want = {
        str(p.relative_to(trees["upper"])): p.read_bytes() if p.is_file() else None
        for p in trees["upper"].rglob("*")
    }
    assert got == want


def test_odd_names_roundtrip(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    names = [b"caf\xc3\xa9", b"raw\xff\xfe", b"new\nline", b"sp ace", b"-dash", b"x" * 250]
    for n in names:
        (src / os.fsdecode(n)).write_bytes(n)
    out = io.BytesIO()
    d = write_tree(src, out)
    dst = tmp_path / "dst"
    dst.mkdir()
    assert apply_layer(io.BytesIO(out.getvalue()), dst).diff_id == d.diff_id
    assert sorted(os.listdir(os.fsencode(dst))) == sorted(names)
    for n in names:
        assert (dst / os.fsdecode(n)).read_bytes() == n


def _names(layer: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        return sorted(m.name.rstrip("/") for m in tar.getmembers())


def test_hidden_mount_points_are_not_changes(tmp_path: Path) -> None:
    """A container's own mount points (made by the runtime) are neither listed by diff nor
    committed; their directories only when something else in them changed."""
    from dockyard.store.layers import changes, write_diff

    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "hosts").write_text("")  # a mount point the runtime made
    (upper / "dev").mkdir()  # only the parent of a hidden path
    (upper / "proc").mkdir()
    (upper / "data").mkdir()
    (upper / "data" / "hosts").write_text("kept")  # the same name elsewhere is a change
    hidden = frozenset({"etc/hosts", "dev/pts", "proc"})
    assert changes(upper, [lower], hidden) == [("A", "/data"), ("A", "/data/hosts")]
    out = io.BytesIO()
    write_diff(upper, out, hidden=hidden)
    assert _names(out.getvalue()) == ["data", "data/hosts"]
    # Something else in a hidden path's directory: the directory is a change again.
    (upper / "etc" / "motd").write_text("hi")
    assert ("C", "/etc") in changes(upper, [lower], hidden)
    assert ("A", "/etc/hosts") not in changes(upper, [lower], hidden)
    out = io.BytesIO()
    write_diff(upper, out, hidden=hidden)
    assert _names(out.getvalue()) == ["data", "data/hosts", "etc", "etc/motd"]
    # Without hidden paths everything is there.
    assert ("A", "/etc/hosts") in changes(upper, [lower])
    assert ("A", "/proc") in changes(upper, [lower])
    # The copy snapshotter's tree diff (of whole trees) leaves them out the same way.
    (upper / "etc" / "passwd").write_text((lower / "etc" / "passwd").read_text())
    os.utime(upper / "etc" / "passwd", ns=(0, (lower / "etc" / "passwd").stat().st_mtime_ns))
    assert tree_changes(lower, upper, hidden) == [
        ("A", "/data"),
        ("A", "/data/hosts"),
        ("C", "/etc"),
        ("A", "/etc/motd"),
    ]
    out = io.BytesIO()
    (upper / "dev" / "pts").mkdir()  # under an added directory: still hidden
    write_tree_diff(lower, upper, out, hidden=hidden)
    names = _names(out.getvalue())
    assert "etc/hosts" not in names and "dev/pts" not in names and "etc/motd" in names
