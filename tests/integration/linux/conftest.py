"""Helpers for the linux integration tests: run a function in a forked child."""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable
from typing import Any

import pytest


def run_in_child(fn: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    """Run ``fn`` in a forked child (so kernel state changes stay there) and return
    its JSON-able result; an exception in the child is re-raised here as AssertionError."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(r)
        try:
            out = {"ok": fn()}
        except BaseException as e:
            out = {"err": f"{type(e).__name__}: {e}", "tb": traceback.format_exc()}
        os.write(w, json.dumps(out).encode())
        os.close(w)
        os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), f"child died: status {status}"
    data = json.loads(b"".join(chunks) or b"{}")
    if "err" in data:
        raise AssertionError(f"in child: {data['err']}\n{data.get('tb', '')}")
    return data.get("ok")


InChild = Callable[..., Any]


@pytest.fixture
def in_child() -> InChild:
    """The run_in_child helper, as a fixture (test modules cannot import conftest)."""
    return run_in_child
