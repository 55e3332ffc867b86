"""cp's archive handling: naming rules and the member filter that keeps writes inside."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path

import pytest

from dockyard.cli.copying import GO_MODE_DIR, path_stat, rename_root, safe_member


def _tar(*members: tuple[str, str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, link, data in members:
            info = tarfile.TarInfo(name)
            if link:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def _extract(buf: io.BytesIO, dest: Path) -> None:
    links: set[str] = set()
    with tarfile.open(fileobj=buf, mode="r|") as tar:
        tar.extractall(dest, filter=lambda m, p: safe_member(m, p, links))


def test_symlinks_are_copied_as_links(tmp_path: Path) -> None:
    _extract(_tar(("abs", "/etc/passwd", b""), ("rel", "real", b""), ("real", "", b"x")), tmp_path)
    assert (tmp_path / "abs").is_symlink()
    assert str((tmp_path / "abs").readlink()) == "/etc/passwd"
    assert (tmp_path / "rel").read_text() == "x"


def test_nothing_is_written_through_a_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    evil = _tar(("d", str(outside), b""), ("d/planted", "", b"owned"))
    with pytest.raises(tarfile.FilterError):
        _extract(evil, dest)
    assert not (outside / "planted").exists()


def test_names_cannot_escape(tmp_path: Path) -> None:
    with pytest.raises(tarfile.FilterError):
        _extract(_tar(("../escape", "", b"x")), tmp_path / "d")
    assert not (tmp_path / "escape").exists()


def test_rename_root_and_stat_header() -> None:
    assert rename_root("src/a/b", "src", "dst") == "dst/a/b"
    assert rename_root("src", "src", "dst") == "dst"
    assert rename_root("other/x", "src", "dst") == "other/x"
    header = base64.b64encode(json.dumps({"name": "tmp", "mode": GO_MODE_DIR | 0o755}).encode())
    assert path_stat(header.decode())["name"] == "tmp"
    assert path_stat("not base64!") == {}
