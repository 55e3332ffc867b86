"""Container records survive a save/load round trip and are replaced atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dockyard.engine import records
from dockyard.engine.records import Container, State


def test_roundtrip(tmp_path: Path) -> None:
    c = Container(
        id="c" * 64,
        name="/web",
        created=records.now_rfc3339(),
        image_id="sha256:" + "1" * 64,
        image_ref="busybox",
        path="sh",
        args=["-c", "true"],
        config={"Env": ["A=1"]},
        host_config={"NetworkMode": "none"},
        state=State(status="exited", exit_code=3),
        mounts=[{"Type": "volume", "Name": "v"}],
    )
    records.save(c, tmp_path / c.id)
    back = records.load(tmp_path / c.id)
    assert back == c
    assert not [p for p in (tmp_path / c.id).iterdir() if p.name.startswith(".")]


def test_missing_record_is_none(tmp_path: Path) -> None:
    assert records.load(tmp_path) is None


def test_unknown_fields_are_ignored(tmp_path: Path) -> None:
    (tmp_path / records.RECORD_FILE).write_text(
        '{"id": "x", "name": "/x", "created": "", "image_id": "", "image_ref": "", "path": "sh",'
        ' "args": [], "config": {}, "host_config": {}, "state": {"status": "running", "zz": 1},'
        ' "future_field": true}'
    )
    c = records.load(tmp_path)
    assert c is not None and c.state.status == "running"


def test_save_without_fsync_replaces_the_record(tmp_path: Path, monkeypatch: Any) -> None:
    import os

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    c = Container(
        id="d" * 64,
        name="/quick",
        created=records.now_rfc3339(),
        image_id="sha256:" + "2" * 64,
        image_ref="busybox",
        path="true",
        args=[],
        config={},
        host_config={},
    )
    records.save(c, tmp_path / c.id)
    assert len(synced) == 2  # the file and its directory
    c.state.status = "running"
    records.save(c, tmp_path / c.id, durable=False)
    assert len(synced) == 2
    back = records.load(tmp_path / c.id)
    assert back is not None and back.state.status == "running"
    assert not [p for p in (tmp_path / c.id).iterdir() if p.name.startswith(".")]
