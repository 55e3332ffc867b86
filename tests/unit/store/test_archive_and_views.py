from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from dockyard.oci.digest import sha256_bytes
from dockyard.oci.image import parse_config
from dockyard.store.archive import parse_docker_manifest, stage_archive
from dockyard.store.content import ContentStore
from dockyard.store.errors import ArchiveError, InvalidImage
from dockyard.store.layerinfo import check_tar, layer_facts, open_uncompressed
from dockyard.store.metadata import LayerRecord
from dockyard.store.views import history, parse_time, unix_time


def tar_of(entries: list[tuple[str, bytes | None, str]]) -> bytes:
    """(name, data, symlink target) entries; data None with a target makes a symlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data, target in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.SYMTYPE
                info.linkname = target
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_stage_archive_small_big_links_and_escapes(tmp_path: Path) -> None:
    content = ContentStore(tmp_path)
    big = b"x" * 300_000
    held: list[str] = []
    data = tar_of(
        [
            ("./manifest.json", b"[]", ""),
            (f"blobs/sha256/{sha256_bytes(big).hex}", big, ""),
            ("../escape", b"evil", ""),
            ("/abs/../../x", b"evil", ""),
            ("dir/link", None, f"../blobs/sha256/{sha256_bytes(big).hex}"),
            ("loop1", None, "loop2"),
            ("loop2", None, "loop1"),
        ]
    )
    staged = stage_archive(
        io.BytesIO(data), content, lambda d: held.append(str(d)), max_member=10**6
    )
    assert staged.read("manifest.json", content) == b"[]"
    assert staged.resolve("dir/link").digest == sha256_bytes(big)
    assert str(sha256_bytes(big)) in held
    assert not staged.has("escape") and not staged.has("../escape")
    with pytest.raises(ArchiveError, match="missing"):
        staged.resolve("loop1")
    assert content.exists(sha256_bytes(big))


def test_stage_archive_limits_and_name_mismatch(tmp_path: Path) -> None:
    content = ContentStore(tmp_path)
    with pytest.raises(ArchiveError, match="limit"):
        stage_archive(io.BytesIO(tar_of([("a", b"x" * 100, "")])), content, print, max_member=10)
    wrong = "blobs/sha256/" + "0" * 64
    with pytest.raises(ArchiveError, match="digest mismatch"):
        stage_archive(
            io.BytesIO(tar_of([(wrong, b"data", "")])), content, lambda d: None, max_member=100
        )
    assert list(content.walk()) == []
    # gzip-compressed archives are read too
    staged = stage_archive(
        io.BytesIO(gzip.compress(tar_of([("index.json", b"{}", "")]))),
        content,
        lambda d: None,
        max_member=100,
    )
    assert staged.read("index.json", content) == b"{}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"{}", "must be a list"),
        (b"[1]", "must be an object"),
        (b'[{"Layers": []}]', "no Config"),
        (b'[{"Config": "c.json", "Layers": "x"}]', "Layers"),
        (b'[{"Config": "c.json", "Layers": [], "RepoTags": [1]}]', "RepoTags"),
        (b"nope", "not valid JSON"),
    ],
)
def test_docker_manifest_validation(text: bytes, message: str) -> None:
    with pytest.raises(ArchiveError, match=message):
        parse_docker_manifest(text)


def test_docker_manifest_ok() -> None:
    [entry] = parse_docker_manifest(
        json.dumps([{"Config": "c.json", "RepoTags": None, "Layers": ["a/layer.tar"]}]).encode()
    )
    assert entry.repo_tags == () and entry.layers == ("a/layer.tar",)


def test_layer_facts_plain_gzip_zstd_and_bomb() -> None:
    layer = tar_of([("f", b"hello" * 1000, "")])
    plain = layer_facts(io.BytesIO(layer))
    assert (plain.compression, plain.diff_id, plain.size) == (
        "plain",
        sha256_bytes(layer),
        len(layer),
    )
    gz = layer_facts(io.BytesIO(gzip.compress(layer)))
    assert (gz.compression, gz.diff_id) == ("gzip", sha256_bytes(layer))
    import zstandard

    zs = layer_facts(io.BytesIO(zstandard.ZstdCompressor().compress(layer)))
    assert (zs.compression, zs.diff_id) == ("zstd", sha256_bytes(layer))
    bomb = gzip.compress(b"\0" * 5_000_000)
    with pytest.raises(InvalidImage, match="limit"):
        layer_facts(io.BytesIO(bomb), limit=1_000_000)
    with pytest.raises(InvalidImage):
        layer_facts(io.BytesIO(gzip.compress(layer)[:-20]))
    assert open_uncompressed(io.BytesIO(gzip.compress(layer))).read() == layer
    assert check_tar(io.BytesIO(layer)) == 1
    with pytest.raises(InvalidImage):
        check_tar(io.BytesIO(b"garbage" * 200))


@pytest.mark.parametrize(
    ("text", "unix"),
    [
        ("2024-01-02T03:04:05Z", 1704164645),
        ("2024-01-02T03:04:05.123456789Z", 1704164645),
        ("2024-01-02T05:04:05+02:00", 1704164645),
        ("1970-01-01T00:00:00Z", 0),
        ("garbage", 0),
        (None, 0),
    ],
)
def test_time_parsing(text: str | None, unix: int) -> None:
    assert unix_time(text) == unix
    if unix:
        assert parse_time(text) is not None


def test_history_view_assigns_layer_sizes() -> None:
    cfg = parse_config(
        json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {
                    "type": "layers",
                    "diff_ids": ["sha256:" + "1" * 64, "sha256:" + "2" * 64],
                },
                "history": [
                    {"created_by": "ADD x", "created": "2024-01-01T00:00:00Z"},
                    {"created_by": "ENV a=b", "empty_layer": True},
                    {"created_by": "RUN y", "comment": "c"},
                ],
            }
        ).encode()
    )
    layers = [
        LayerRecord(0, "d0", "t", 1, "x", "c0", 100),
        LayerRecord(1, "d1", "t", 1, "y", "c1", 7),
    ]
    rows = history("sha256:img", cfg, layers, ["a:1"])
    assert [r["CreatedBy"] for r in rows] == ["RUN y", "ENV a=b", "ADD x"]
    assert [r["Size"] for r in rows] == [7, 0, 100]
    assert rows[0]["Id"] == "sha256:img" and rows[0]["Tags"] == ["a:1"]
    assert rows[1]["Id"] == "<missing>" and rows[2]["Created"] == 1704067200


def test_member_count_and_memory_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dockyard.store.archive as arc

    content = ContentStore(tmp_path)
    many = tar_of([(f"f{i}", b"x", "") for i in range(20)])
    monkeypatch.setattr(arc, "MAX_MEMBERS", 10)
    with pytest.raises(ArchiveError, match="more than 10 members"):
        stage_archive(io.BytesIO(many), content, lambda d: None, max_member=100)
    monkeypatch.setattr(arc, "MAX_MEMBERS", 100)
    monkeypatch.setattr(arc, "MAX_IN_MEMORY", 5)
    staged = stage_archive(io.BytesIO(many), content, lambda d: None, max_member=100)
    in_memory = [f for f in staged.files.values() if f.data is not None]
    spilled = [f for f in staged.files.values() if f.digest is not None]
    assert len(in_memory) == 5 and len(spilled) == 15
    assert staged.read("f19", content) == b"x"
