"""dockyardd daemons for the distribution tests, reusing tests/integration/api/support.py
(loaded by tests/conftest.py), optionally started inside a network namespace."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any


def api_support() -> ModuleType:
    """tests/integration/api/support.py, loaded once by tests/conftest.py."""
    return sys.modules["dockyard_api_test_support"]


def registry_auth(user: str, password: str, server: str) -> str:
    obj = {"username": user, "password": password, "serveraddress": server}
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()


def json_lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def make_daemon(env: dict[str, str] | None = None, netns: list[str] | None = None) -> Any:
    """A started dockyardd with its own roots; ``env`` is added to its environment;
    ``netns``: a command prefix that runs it in another network namespace."""
    support = api_support()
    d = support.Daemon(support.new_base())
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        if netns is None:
            d.start()
        else:
            _start_in_netns(d, netns)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return d


@contextlib.contextmanager
def daemon_pair(registry: str) -> Iterator[tuple[Any, Any]]:
    """Two started dockyardd with ``registry`` as their default; the first has busybox."""
    made = []
    try:
        for _ in range(2):
            made.append(make_daemon({"DOCKYARD_DEFAULT_REGISTRY": registry}))
        made[0].bootstrap()
        yield made[0], made[1]
    finally:
        for d in made:
            d.cleanup()


def _start_in_netns(d: Any, prefix: list[str], timeout: float = 30) -> None:
    support = api_support()
    env = dict(os.environ)
    env.pop("DOCKYARD_HOST", None)
    cmd = [
        *prefix,
        str(support.DOCKYARDD),
        "--data-root",
        str(d.data_root),
        "--exec-root",
        str(d.exec_root),
        "-H",
        f"unix://{d.sock}",
        "--runtime",
        d.runtime,
    ]
    with open(d.log, "ab") as log:
        d.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, start_new_session=True)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if d.proc.poll() is not None:
            raise RuntimeError(f"dockyardd exited: {d.log.read_text()[-2000:]}")
        try:
            if d.client.get("/_ping", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("dockyardd did not answer /_ping in time")


def run_and_logs(client: Any, image: str, cmd: list[str]) -> tuple[int, bytes]:
    support = api_support()
    cid = client.create(Image=image, Cmd=cmd)
    client.start(cid)
    code = client.wait(cid)
    out = support.joined(client.logs(cid), 1)
    client.delete(f"/containers/{cid}", params={"force": 1})
    return code, out
