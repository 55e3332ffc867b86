"""sync_file_range as a writeback hint."""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.linux.writeback import start_writeback


def test_start_writeback_on_a_file_and_not_on_a_pipe(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(fd, b"x" * 65536)
        assert start_writeback(fd, 0, 65536) is True
        os.fsync(fd)
    finally:
        os.close(fd)
    r, w = os.pipe()
    try:
        assert start_writeback(w, 0, 1) is False  # ESPIPE: a hint that cannot apply
    finally:
        os.close(r)
        os.close(w)
