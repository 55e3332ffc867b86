"""Many clients at once: same blob pushed in parallel, racing chunks on one upload."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import hubtools as ht
import pytest
from hubtools import client

pytestmark = pytest.mark.root


def test_same_blob_pushed_by_many_clients_at_once(hub: ht.HubProcess) -> None:
    data = os.urandom(3 << 20)
    digest = ht.sha(data)

    def push(i: int) -> int:
        c = client(hub, "alice")
        r = c.call("POST", f"/v2/alice/same{i % 3}/blobs/uploads/")
        loc = r.header("Location") or ""
        r = c.call("PATCH", loc, data)
        r = c.call("PUT", f"{loc}?digest={digest}")
        return r.status

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(push, range(8)))
    assert statuses == [201] * 8
    files = list((hub.data / "blobs").rglob("*"))
    assert [f for f in files if f.is_file()] == [
        hub.data / "blobs" / "sha256" / digest[7:9] / digest[7:]
    ]
    assert list((hub.data / "uploads").iterdir()) == []
    for i in range(3):
        assert client(hub, "alice").call("GET", f"/v2/alice/same{i}/blobs/{digest}").body == data


def test_racing_chunks_on_one_upload(hub: ht.HubProcess) -> None:
    alice = client(hub, "alice")
    data = os.urandom(2 << 20)
    loc = alice.call("POST", "/v2/alice/race/blobs/uploads/").header("Location") or ""
    scope = "repository:alice/race:pull,push,delete"
    token = alice.tokens[scope]

    def patch(_: int) -> int:
        return ht.request(
            "PATCH",
            hub.url + loc,
            data,
            {"Authorization": f"Bearer {token}", "Content-Range": f"0-{len(data) - 1}"},
        ).status

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(patch, range(4)))
    assert statuses == [202, 416, 416, 416]
    r = alice.call("GET", loc)
    assert r.header("Range") == f"0-{len(data) - 1}"
    assert alice.call("PUT", f"{loc}?digest={ht.sha(data)}").status == 201
