"""Fixtures that start real `dockyard-hub` processes on loopback with temp data dirs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.hub import accounts
from dockyard.hub.db import connect

sys.path.insert(0, str(Path(__file__).parent))

import hubtools

USERS = hubtools.USERS
client = hubtools.client


def _make_hub(tmp_path: Path, config: str = "") -> hubtools.HubProcess:
    data = tmp_path / "data"
    data.mkdir()
    # Users are made in-process (the CLI path has its own tests): one process less each.
    conn = connect(data / "hub.db")
    try:
        for name, password in USERS.items():
            accounts.create_user(conn, name, password, admin=(name == "root"))
    finally:
        conn.close()
    cfg = tmp_path / "hub.toml"
    default = "" if "gc_interval" in config else "gc_interval = 0\n"
    cfg.write_text(default + config)
    return hubtools.HubProcess(data, config=cfg)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[hubtools.HubProcess]:
    h = _make_hub(tmp_path).start()
    yield h
    h.stop()


@pytest.fixture
def make_hub(tmp_path: Path) -> Iterator[object]:
    started: list[hubtools.HubProcess] = []

    def factory(config: str = "") -> hubtools.HubProcess:
        h = _make_hub(tmp_path, config).start()
        started.append(h)
        return h

    yield factory
    for h in started:
        h.stop()
