"""Which runtime binary the daemon drives: always an absolute path (monitors run elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.engine.runtime import choose_runtime


def test_relative_runtime_path_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bin").mkdir()
    rt = tmp_path / "bin" / "my-runc"
    rt.write_text("#!/bin/sh\n")
    rt.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DOCKYARD_RUNTIME", raising=False)
    assert choose_runtime("bin/my-runc") == str(rt)
    assert choose_runtime("./bin/my-runc") == str(rt)
    monkeypatch.setenv("DOCKYARD_RUNTIME", "bin/my-runc")
    assert choose_runtime(None) == str(rt)


def test_runtime_name_is_found_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = tmp_path / "other-runc"
    rt.write_text("#!/bin/sh\n")
    rt.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    assert choose_runtime("other-runc") == str(rt)
