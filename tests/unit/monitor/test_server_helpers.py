"""Helpers of the monitor process that need no container."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dockyard.engine.monitor import server
from dockyard.engine.monitor.protocol import code_id


def test_runtime_error_takes_the_last_error_after_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "runtime.log"
    old = json.dumps({"level": "error", "msg": "old failure"}) + "\n"
    new = (
        json.dumps({"level": "info", "msg": "starting"})
        + "\nnot json\n"
        + json.dumps({"level": "error", "msg": 'exec: "x": executable file not found'})
        + "\n"
        + json.dumps({"level": "warning", "msg": "cleanup"})
        + "\n"
    )
    log.write_text(old + new)
    msg = server._runtime_error(str(log), len(old), "", 1 << 8)
    assert msg == 'exec: "x": executable file not found'


def test_runtime_error_falls_back_to_stderr_then_status(tmp_path: Path) -> None:
    missing = str(tmp_path / "none.log")
    assert server._runtime_error(missing, 0, "warn\nreal problem\n\n", 1 << 8) == "real problem"
    assert server._runtime_error(missing, 0, "", 3 << 8) == "runtime exited with 3"


def test_socket_arg_stays_dialable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert server._socket_arg("c.sock") == str(tmp_path / "c.sock")
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    arg = server._socket_arg("console.sock")
    assert len(arg) <= 107
    assert os.path.realpath(os.path.dirname(arg)) == os.path.realpath(deep)


def test_write_atomic(tmp_path: Path) -> None:
    target = tmp_path / "exit.json"
    server._write_atomic(str(target), b'{"exit_code": 0}')
    assert json.loads(target.read_text()) == {"exit_code": 0}
    assert not (tmp_path / "exit.json.tmp").exists()


def test_code_id_changes_with_the_code(tmp_path: Path) -> None:
    a = code_id("/usr/bin/python3")
    assert a == code_id("/usr/bin/python3")
    assert a != code_id(str(tmp_path / "other-python"))
    assert "server.py" in a and "launcher.py" in a


def test_code_id_covers_the_preloaded_runtime() -> None:
    """Monitors run dockyard-runc's code from the launcher's memory: an edit of any of it
    must replace the launcher too."""
    import dockyard.oci.fastjson
    import dockyard.runtime.create
    from dockyard.engine.monitor import inprocess
    from dockyard.linux import seccomp

    a = code_id("/usr/bin/python3")
    for module in (dockyard.runtime.create, seccomp, dockyard.oci.fastjson, inprocess):
        assert f"{module.__file__}:" in a
