"""Docker-CLI-style flows through two real dockyardd daemons with their own data roots and a
real dockyard-hub: login, push from one, pull into the other, run there."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import daemons

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def two_daemons(hub: Any) -> Iterator[tuple[Any, Any]]:
    with daemons.daemon_pair(hub.addr) as pair:
        yield pair


def _auth(hub: Any, user: str = "alice", password: str = "alice-pass-1") -> dict[str, str]:
    return {"X-Registry-Auth": daemons.registry_auth(user, password, hub.addr)}


def test_login_through_the_daemon(hub: Any, two_daemons: tuple[Any, Any]) -> None:
    api = two_daemons[0].client
    body = {"username": "alice", "password": "alice-pass-1", "serveraddress": hub.addr}
    r = api.post("/auth", body)
    assert r.status == 200, r
    assert r.json() == {"Status": "Login Succeeded", "IdentityToken": ""}
    r = api.post("/auth", {**body, "password": "wrong"})
    assert r.status == 401 and "incorrect username or password" in r.message
    r = api.post("/auth", {**body, "username": "nobody"})
    assert r.status == 401


def test_push_pull_run_across_daemons(hub: Any, two_daemons: tuple[Any, Any]) -> None:
    one, two = two_daemons
    repo = f"{hub.addr}/alice/shared"
    r = one.client.post("/images/busybox/tag", params={"repo": repo, "tag": "v1"})
    assert r.status == 201, r
    r = one.client.post(f"/images/{repo}/push", params={"tag": "v1"}, headers=_auth(hub))
    assert r.status == 200, r
    pushed = daemons.json_lines(r.body)
    assert not [m for m in pushed if "error" in m], pushed
    assert pushed[0]["status"] == f"The push refers to repository [{repo}]"
    final = [m for m in pushed if m.get("status", "").startswith("v1: digest: ")]
    assert final, pushed
    digest = final[0]["status"].split()[2]

    r = two.client.post(
        "/images/create", params={"fromImage": repo, "tag": "v1"}, headers=_auth(hub)
    )
    assert r.status == 200, r
    pulled = daemons.json_lines(r.body)
    assert not [m for m in pulled if "error" in m], pulled
    assert pulled[-1]["status"] == f"Status: Downloaded newer image for {repo}:v1"
    assert {"status": f"Digest: {digest}"} in pulled

    a = one.client.get(f"/images/{repo}:v1/json").json()
    b = two.client.get(f"/images/{repo}:v1/json").json()
    assert a["Id"] == b["Id"]
    assert f"{repo}@{digest}" in b["RepoDigests"]

    out_one = daemons.run_and_logs(
        one.client, f"{repo}:v1", ["sh", "-c", "echo made on one; uname -s"]
    )
    out_two = daemons.run_and_logs(
        two.client, f"{repo}:v1", ["sh", "-c", "echo made on one; uname -s"]
    )
    assert out_one == out_two == (0, b"made on one\nLinux\n")

    events = two.client.get("/events", params={"since": 0, "until": int(time.time()) + 1})
    assert b'"pull"' in events.body


def test_daemon_errors(hub: Any, two_daemons: tuple[Any, Any]) -> None:
    one, two = two_daemons
    # Pushing into someone else's namespace: the stream ends with Docker's denied error.
    stolen = f"{hub.addr}/bob/stolen"
    assert one.client.post("/images/busybox/tag", params={"repo": stolen, "tag": "1"}).status == 201
    r = one.client.post(f"/images/{stolen}/push", params={"tag": "1"}, headers=_auth(hub))
    lines = daemons.json_lines(r.body) if r.status == 200 else [{"error": r.message}]
    errors = [m["error"] for m in lines if "error" in m]
    assert errors and "denied" in errors[-1], lines
    # Pulling what does not exist: an HTTP error before any progress, as Docker answers.
    r = two.client.post(
        "/images/create",
        params={"fromImage": f"{hub.addr}/alice/nothing", "tag": "x"},
        headers=_auth(hub),
    )
    assert r.status == 404, r
    # A local image that does not exist cannot be pushed.
    r = one.client.post(f"/images/{hub.addr}/alice/never/push", params={"tag": "1"})
    assert r.status == 404
    # A bad X-Registry-Auth header is a 400.
    r = two.client.post(
        "/images/create", params={"fromImage": "busybox"}, headers={"X-Registry-Auth": "%%%"}
    )
    assert r.status == 400


def test_unqualified_names_use_the_default_registry(hub: Any, two_daemons: tuple[Any, Any]) -> None:
    one, two = two_daemons
    r = one.client.post(
        "/images/busybox/push", params={"tag": "latest"}, headers=_auth(hub, "root", "root-pass-1")
    )
    lines = daemons.json_lines(r.body)
    assert r.status == 200 and not [m for m in lines if "error" in m], lines
    # Anonymous pull of the official image, by its short name.
    r = two.client.post("/images/create", params={"fromImage": "busybox", "tag": "latest"})
    lines = daemons.json_lines(r.body)
    assert r.status == 200 and not [m for m in lines if "error" in m], lines
    assert lines[0] == {"status": "Pulling from library/busybox", "id": "latest"}
    assert (
        two.client.get("/images/busybox/json").json()["Id"]
        == (one.client.get("/images/busybox/json").json()["Id"])
    )
    r = two.client.get("/images/search", params={"term": "busybox"})
    assert r.status == 200, r
    assert any(x["name"] in ("busybox", "library/busybox") for x in r.json()), r.json()


def test_push_every_tag_and_pull_by_digest(hub: Any, two_daemons: tuple[Any, Any]) -> None:
    one, two = two_daemons
    repo = f"{hub.addr}/alice/alltags"
    for tag in ("a", "b"):
        r = one.client.post("/images/busybox/tag", params={"repo": repo, "tag": tag})
        assert r.status == 201, r
    r = one.client.post(f"/images/{repo}/push", headers=_auth(hub))  # no tag: all of them
    lines = daemons.json_lines(r.body)
    assert r.status == 200 and not [m for m in lines if "error" in m], lines
    done = sorted(m["aux"]["Tag"] for m in lines if "aux" in m)
    assert done == ["a", "b"]
    digest = next(m["aux"]["Digest"] for m in lines if "aux" in m)

    r = two.client.post(
        "/images/create", params={"fromImage": f"{repo}@{digest}"}, headers=_auth(hub)
    )
    lines = daemons.json_lines(r.body)
    assert r.status == 200 and not [m for m in lines if "error" in m], lines
    assert lines[0] == {"status": "Pulling from alice/alltags", "id": digest}
    got = two.client.get(f"/images/{repo}@{digest}/json")
    assert got.status == 200 and f"{repo}@{digest}" in got.json()["RepoDigests"]
