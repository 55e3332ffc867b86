"""Restarts, SIGKILL in the middle of uploads, and garbage collection while serving."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import hubtools as ht
import pytest
from hubtools import client

pytestmark = pytest.mark.root


def test_upload_resumes_after_restart(hub: ht.HubProcess) -> None:
    alice = client(hub, "alice")
    data = os.urandom(300_000)
    loc = alice.call("POST", "/v2/alice/r/blobs/uploads/").header("Location") or ""
    r = alice.call("PATCH", loc, data[:100_000], {"Content-Range": "0-99999"})
    assert r.status == 202
    hub.stop()
    hub.start()
    alice = client(hub, "alice")
    r = alice.call("GET", loc)
    assert r.status == 204 and r.header("Range") == "0-99999"
    r = alice.call("PATCH", loc, data[100_000:200_000], {"Content-Range": "100000-199999"})
    assert r.status == 202 and r.header("Range") == "0-199999"
    r = alice.call("PUT", f"{loc}?digest={ht.sha(data)}", data[200_000:])
    assert r.status == 201
    assert alice.call("GET", f"/v2/alice/r/blobs/{ht.sha(data)}").body == data


def _start_streamed_patch(
    hub: ht.HubProcess, loc: str, token: str, total: int, first: bytes
) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", hub.port))
    head = (
        f"PATCH {loc} HTTP/1.1\r\nHost: {hub.host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {total}\r\n\r\n"
    )
    s.sendall(head.encode() + first)
    return s


def test_sigkill_during_uploads_leaves_nothing_half_visible(hub: ht.HubProcess) -> None:
    alice = client(hub, "alice")
    data = os.urandom(24 << 20)
    digest = ht.sha(data)
    loc = alice.call("POST", "/v2/alice/k/blobs/uploads/").header("Location") or ""
    token = alice.tokens["repository:alice/k:pull,push,delete"]
    sent = 13 << 20
    s1 = _start_streamed_patch(hub, loc, token, len(data), data[:sent])
    # and a monolithic upload cut in the middle, whose client will never come back
    other = os.urandom(8 << 20)
    s2 = socket.create_connection(("127.0.0.1", hub.port))
    s2.sendall(
        (
            f"POST /v2/alice/k/blobs/uploads/?digest={ht.sha(other)} HTTP/1.1\r\n"
            f"Host: {hub.host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Length: {len(other)}\r\n\r\n"
        ).encode()
        + other[: 5 << 20]
    )
    deadline = time.monotonic() + 10
    upload_file = next(iter(hub.data.glob(f"uploads/{loc.rsplit('/', 1)[1]}/data")))
    while upload_file.stat().st_size < (8 << 20) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hub.proc is not None
    hub.proc.send_signal(signal.SIGKILL)
    hub.proc.wait(10)
    hub.proc = None
    s1.close()
    s2.close()
    hub.start()
    alice = client(hub, "alice")
    for d in (digest, ht.sha(other)):
        assert alice.call("HEAD", f"/v2/alice/k/blobs/{d}").status == 404
    assert not list(hub.data.glob("blobs/sha256/*/*"))
    r = alice.call("GET", loc)
    assert r.status == 204
    offset = int((r.header("Range") or "0-0").split("-")[1]) + 1
    assert 0 < offset <= sent
    r = alice.call("PATCH", loc, data[offset:], {"Content-Range": f"{offset}-{len(data) - 1}"})
    assert r.status == 202
    r = alice.call("PUT", f"{loc}?digest={digest}")
    assert r.status == 201
    got = alice.call("GET", f"/v2/alice/k/blobs/{digest}").body
    assert got == data


def _gc(hub: ht.HubProcess, tmp: Path, **settings: object) -> str:
    cfg = tmp / f"gc-{time.monotonic_ns()}.toml"
    cfg.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
    r = ht.hub_cli(hub.data, "gc", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_online_gc(hub: ht.HubProcess, tmp_path: Path) -> None:
    alice = client(hub, "alice")
    la = ht.make_layer({"a": os.urandom(5000)})
    lb = ht.make_layer({"b": os.urandom(5000)})
    da, _ = alice.push_image("alice/g", "keep", la)
    db, _ = alice.push_image("alice/g", "drop", lb)
    assert alice.call("DELETE", "/v2/alice/g/manifests/drop").status == 202
    # a push in progress: a blob uploaded, its manifest not yet pushed, and an open upload
    lc = ht.make_layer({"c": os.urandom(5000)})
    alice.push_blob("alice/g", lc)
    loc = alice.call("POST", "/v2/alice/g/blobs/uploads/").header("Location") or ""
    partial = os.urandom(1000)
    alice.call("PATCH", loc, partial[:500], {"Content-Range": "0-499"})

    out = _gc(hub, tmp_path, gc_grace=3600, upload_ttl=3600)
    assert "removed 0 manifests" in out  # everything is younger than the grace period

    # the push in progress finishes after a collection ran
    cfg = ht.make_config([lc])
    alice.push_blob("alice/g", cfg)
    r = alice.push_manifest("alice/g", "new", ht.image_manifest(cfg, [lc]))
    assert r.status == 201

    cfg_dry = tmp_path / "dry.toml"
    cfg_dry.write_text("gc_grace = 0\n")
    r = ht.hub_cli(hub.data, "gc", "--config", str(cfg_dry), "--dry-run")
    assert "would remove 1 manifests" in r.stdout, r.stdout + r.stderr
    assert alice.call("GET", f"/v2/alice/g/manifests/{db}").status == 200
    out = _gc(hub, tmp_path, gc_grace=0, upload_ttl=3600)
    assert "removed 1 manifests" in out, out
    assert alice.call("GET", f"/v2/alice/g/manifests/{db}").status == 404
    assert alice.call("HEAD", f"/v2/alice/g/blobs/{ht.sha(lb)}").status == 404
    assert not (hub.data / "blobs" / "sha256" / ht.sha(lb)[7:9] / ht.sha(lb)[7:]).exists()
    # what tagged manifests need stays, and so does the upload in progress
    for tag, layer in (("keep", la), ("new", lc)):
        assert alice.call("GET", f"/v2/alice/g/manifests/{tag}").status == 200
        assert alice.call("GET", f"/v2/alice/g/blobs/{ht.sha(layer)}").body == layer
    assert alice.call("GET", loc).header("Range") == "0-499"
    r = alice.call("PUT", f"{loc}?digest={ht.sha(partial)}", partial[500:])
    assert r.status == 201
    assert da

    # abandoned uploads are purged after their TTL
    loc2 = alice.call("POST", "/v2/alice/g/blobs/uploads/").header("Location") or ""
    alice.call("PATCH", loc2, b"abc", {"Content-Range": "0-2"})
    time.sleep(1.1)
    out = _gc(hub, tmp_path, gc_grace=3600, upload_ttl=1)
    assert "1 abandoned uploads" in out, out
    assert alice.call("GET", loc2).status == 404


def test_gc_inside_the_server_while_pushing(make_hub: object) -> None:
    hub = make_hub("gc_interval = 1\ngc_grace = 3\n")  # type: ignore[operator]
    alice = client(hub, "alice")
    kept: dict[str, tuple[str, dict[str, object]]] = {}
    dropped = []
    deadline = time.monotonic() + 8
    i = 0
    while time.monotonic() < deadline and i < 40:
        layer = ht.make_layer({f"f{i}": os.urandom(2000)})
        digest, doc = alice.push_image("alice/busy", f"t{i}", layer)
        if i % 2:
            assert alice.call("DELETE", f"/v2/alice/busy/manifests/t{i}").status == 202
            dropped.append((digest, ht.sha(layer)))
        else:
            kept[f"t{i}"] = (digest, doc)
        i += 1
    assert i >= 4
    time.sleep(5)  # past the grace period, and at least one collection more
    end = time.monotonic() + 15
    while time.monotonic() < end:
        if all(alice.call("HEAD", f"/v2/alice/busy/blobs/{b}").status == 404 for _, b in dropped):
            break
        time.sleep(0.5)
    for digest, blob in dropped:
        assert alice.call("GET", f"/v2/alice/busy/manifests/{digest}").status == 404
        assert alice.call("HEAD", f"/v2/alice/busy/blobs/{blob}").status == 404
    for tag, (digest, doc) in kept.items():
        r = alice.call("GET", f"/v2/alice/busy/manifests/{tag}")
        assert r.status == 200 and r.header("Docker-Content-Digest") == digest
        for d in [doc["config"], *doc["layers"]]:  # type: ignore[list-item]
            r = alice.call("GET", f"/v2/alice/busy/blobs/{d['digest']}")  # type: ignore[index]
            assert r.status == 200 and ht.sha(r.body) == d["digest"]  # type: ignore[index]


def test_a_pusher_checking_a_blob_keeps_it_through_gc(make_hub: object, tmp_path: Path) -> None:
    hub = make_hub("gc_grace = 2\n")  # type: ignore[operator]
    alice = client(hub, "alice")
    checked, unchecked = os.urandom(300), os.urandom(300)
    alice.push_blob("alice/h", checked)
    alice.push_blob("alice/h", unchecked)
    time.sleep(1.6)
    # "does the registry have it?" before pushing a manifest that needs it
    assert alice.call("HEAD", f"/v2/alice/h/blobs/{ht.sha(checked)}").status == 200
    # an anonymous reader's HEAD does not keep garbage alive
    assert client(hub).call("HEAD", f"/v2/alice/h/blobs/{ht.sha(unchecked)}").status == 200
    time.sleep(1.0)
    _gc(hub, tmp_path, gc_grace=2, upload_ttl=3600)
    assert alice.call("HEAD", f"/v2/alice/h/blobs/{ht.sha(checked)}").status == 200
    assert alice.call("HEAD", f"/v2/alice/h/blobs/{ht.sha(unchecked)}").status == 404
    cfg = ht.make_config([])
    alice.push_blob("alice/h", cfg)
    doc = ht.image_manifest(cfg, [])
    doc["layers"] = [{"mediaType": ht.OCI_LAYER, "digest": ht.sha(checked), "size": 300}]
    assert alice.push_manifest("alice/h", "v1", doc).status == 201
