"""Search as its owner: a private repository shows up for the account that may see it, with
the credentials the client presents (library and daemon), and for nobody else."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.distribution.auth import Credentials
from dockyard.distribution.errors import DistributionError
from dockyard.distribution.push import push
from dockyard.distribution.registries import RegistryConfig
from dockyard.distribution.search import search

sys.path.insert(0, str(Path(__file__).parent))
import daemons
from hubweb import WebSession

pytestmark = pytest.mark.root

ALICE = Credentials("alice", "alice-pass-1")
BOB = Credentials("bob", "bob-pass-1")


@pytest.fixture(scope="module")
def private_repo(hub: Any, source_store: Any) -> str:
    for name in ("findme-hidden", "findme-shown"):
        ref = f"{hub.addr}/alice/{name}:1"
        source_store.tag("busybox:latest", ref)
        push(source_store, ref, creds=ALICE)
    web = WebSession(f"http://{hub.addr}")
    web.login("alice", "alice-pass-1")
    web.make_private("alice/findme-hidden")
    return "alice/findme-hidden"


def _names(results: list[dict[str, Any]]) -> list[str]:
    return sorted(r["name"] for r in results)


def test_library_search_with_and_without_credentials(hub: Any, private_repo: str) -> None:
    cfg = RegistryConfig(insecure=[hub.addr])
    term = f"{hub.addr}/findme"
    assert _names(search(term, config=cfg)) == ["alice/findme-shown"]
    assert _names(search(term, config=cfg, creds=BOB)) == ["alice/findme-shown"]
    assert _names(search(term, config=cfg, creds=ALICE)) == [private_repo, "alice/findme-shown"]
    with pytest.raises(DistributionError):
        search(term, config=cfg, creds=Credentials("alice", "wrong-password"))


@pytest.fixture(scope="module")
def daemon(hub: Any) -> Iterator[Any]:
    d = daemons.make_daemon({"DOCKYARD_DEFAULT_REGISTRY": hub.addr})
    try:
        yield d
    finally:
        d.cleanup()


def test_daemon_search_presents_x_registry_auth(hub: Any, private_repo: str, daemon: Any) -> None:
    term = {"term": f"{hub.addr}/findme"}
    r = daemon.client.get("/images/search", params=term)
    assert r.status == 200, r
    assert _names(r.json()) == ["alice/findme-shown"]
    auth = {"X-Registry-Auth": daemons.registry_auth("alice", "alice-pass-1", hub.addr)}
    r = daemon.client.get("/images/search", params=term, headers=auth)
    assert r.status == 200, r
    assert _names(r.json()) == [private_repo, "alice/findme-shown"]
    bad = {"X-Registry-Auth": daemons.registry_auth("alice", "nope", hub.addr)}
    r = daemon.client.get("/images/search", params=term, headers=bad)
    assert r.status in (401, 403), r
