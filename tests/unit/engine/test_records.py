"""Container records survive a save/load round trip and are replaced atomically."""

from __future__ import annotations

from pathlib import Path

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
