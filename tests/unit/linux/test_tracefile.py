"""linux/tracefile: the file a phase trace appends to."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from dockyard.linux.tracefile import open_trace, write_line


def test_unset_means_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_TEST_TRACE", raising=False)
    assert open_trace("DOCKYARD_TEST_TRACE") == -1
    monkeypatch.setenv("DOCKYARD_TEST_TRACE", "")
    assert open_trace("DOCKYARD_TEST_TRACE") == -1


def test_lines_are_appended_by_every_writer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "trace"
    path.write_text("earlier\n")
    monkeypatch.setenv("DOCKYARD_TEST_TRACE", str(path))
    a, b = open_trace("DOCKYARD_TEST_TRACE"), open_trace("DOCKYARD_TEST_TRACE")
    try:
        assert a >= 0 and b >= 0
        assert fcntl.fcntl(a, fcntl.F_GETFD) & fcntl.FD_CLOEXEC  # never into a container
        write_line(a, "one\n")
        write_line(b, "two\n")
        write_line(a, "three\n")
    finally:
        os.close(a)
        os.close(b)
    assert path.read_text() == "earlier\none\ntwo\nthree\n"


def test_an_unopenable_file_means_off_and_writes_never_fail(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKYARD_TEST_TRACE", str(tmp_path / "missing-dir" / "trace"))
    assert open_trace("DOCKYARD_TEST_TRACE") == -1
    write_line(-1, "nowhere\n")  # a closed or absent file is ignored, not raised


def test_a_new_trace_file_is_private(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "new-trace"
    monkeypatch.setenv("DOCKYARD_TEST_TRACE", str(path))
    old = os.umask(0)
    try:
        fd = open_trace("DOCKYARD_TEST_TRACE")
    finally:
        os.umask(old)
    os.close(fd)
    assert path.stat().st_mode & 0o777 == 0o600
