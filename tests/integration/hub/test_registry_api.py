"""The distribution API of a real hub process, driven over HTTP on loopback."""

from __future__ import annotations

import json
import os
import urllib.parse

import hubtools as ht
import pytest
from hubtools import client

pytestmark = pytest.mark.root


def test_base_probe_needs_a_token_then_answers(hub: ht.HubProcess) -> None:
    r = ht.request("GET", hub.url + "/v2/")
    assert r.status == 401
    assert r.header("Docker-Distribution-API-Version") == "registry/2.0"
    challenge = r.header("WWW-Authenticate") or ""
    assert challenge.startswith("Bearer ")
    assert f'realm="{hub.url}/token"' in challenge and 'service="dockyard-hub"' in challenge
    r = client(hub).call("GET", "/v2/")
    assert r.status == 200 and r.header("Docker-Distribution-API-Version") == "registry/2.0"


def test_push_pull_flow(hub: ht.HubProcess) -> None:
    alice = client(hub, "alice")
    layer = ht.make_layer({"a.txt": os.urandom(3000)})
    digest, doc = alice.push_image("alice/web", "v1", layer)
    assert digest == ht.sha(json.dumps(doc).encode())

    anon = client(hub)
    for ref in ("v1", digest):
        r = anon.call("GET", f"/v2/alice/web/manifests/{ref}", headers={"Accept": ht.OCI_MANIFEST})
        assert r.status == 200
        assert r.header("Docker-Content-Digest") == digest
        assert r.header("Content-Type") == ht.OCI_MANIFEST
        assert ht.sha(r.body) == digest
    head = anon.call("HEAD", "/v2/alice/web/manifests/v1")
    assert head.status == 200 and head.body == b""
    assert int(head.header("Content-Length") or 0) == len(json.dumps(doc))

    ldigest = ht.sha(layer)
    r = anon.call("GET", f"/v2/alice/web/blobs/{ldigest}")
    assert r.status == 200 and r.body == layer and r.header("Docker-Content-Digest") == ldigest
    r = anon.call("GET", f"/v2/alice/web/blobs/{ldigest}", headers={"Range": "bytes=10-19"})
    assert r.status == 206 and r.body == layer[10:20]
    assert r.header("Content-Range") == f"bytes 10-19/{len(layer)}"
    r = anon.call("HEAD", f"/v2/alice/web/blobs/{ldigest}")
    assert r.status == 200 and int(r.header("Content-Length") or 0) == len(layer)

    r = anon.call("GET", "/v2/alice/web/tags/list")
    assert r.json() == {"name": "alice/web", "tags": ["v1"]}
    r = anon.call("GET", "/v2/_catalog")
    assert r.status == 200 and r.json()["repositories"] == ["alice/web"]

    r = anon.call("GET", "/v2/alice/web/manifests/nope")
    assert r.status == 404 and r.error_codes() == ["MANIFEST_UNKNOWN"]
    r = anon.call("GET", "/v2/alice/web/blobs/sha256:" + "0" * 64)
    assert r.status == 404 and r.error_codes() == ["BLOB_UNKNOWN"]


def test_chunked_upload_out_of_order_is_416_and_status_reports_range(hub: ht.HubProcess) -> None:
    alice = client(hub, "alice")
    data = os.urandom(100)
    r = alice.call("POST", "/v2/alice/chunks/blobs/uploads/")
    assert r.status == 202 and r.header("Range") == "0-0"
    loc = r.header("Location") or ""
    assert r.header("Docker-Upload-UUID") and loc.startswith("/v2/alice/chunks/blobs/uploads/")
    patch = {"Content-Type": "application/octet-stream"}
    r = alice.call("PATCH", loc, data[:40], {**patch, "Content-Range": "0-39"})
    assert r.status == 202 and r.header("Range") == "0-39"
    loc = r.header("Location") or loc
    r = alice.call("PATCH", loc, data[60:], {**patch, "Content-Range": "60-99"})
    assert r.status == 416 and r.error_codes() == ["BLOB_UPLOAD_INVALID"]
    r = alice.call("GET", loc)
    assert r.status == 204 and r.header("Range") == "0-39"
    r = alice.call("PATCH", loc, data[40:70], {**patch, "Content-Range": "40-69"})
    assert r.status == 202 and r.header("Range") == "0-69"
    # streamed chunk: no Content-Range, appended at the current offset
    r = alice.call("PATCH", loc, data[70:90], patch)
    assert r.status == 202 and r.header("Range") == "0-89"
    sep = "&" if "?" in loc else "?"
    r = alice.call("PUT", f"{loc}{sep}digest={ht.sha(data)}", data[90:], patch)
    assert r.status == 201 and r.header("Docker-Content-Digest") == ht.sha(data)
    r = alice.call("GET", f"/v2/alice/chunks/blobs/{ht.sha(data)}")
    assert r.body == data
    r = alice.call("GET", loc)
    assert r.status == 404 and r.error_codes() == ["BLOB_UPLOAD_UNKNOWN"]


def test_wrong_digest_keeps_blob_invisible_and_upload_open(hub: ht.HubProcess) -> None:
    alice = client(hub, "alice")
    data = b"some bytes"
    wrong = ht.sha(b"other bytes")
    r = alice.call("POST", f"/v2/alice/d/blobs/uploads/?digest={wrong}", data)
    assert r.status == 400 and r.error_codes() == ["DIGEST_INVALID"]
    assert alice.call("HEAD", f"/v2/alice/d/blobs/{wrong}").status == 404
    assert alice.call("HEAD", f"/v2/alice/d/blobs/{ht.sha(data)}").status == 404
    assert list((hub.data / "uploads").iterdir()) == []  # no session left to resume

    r = alice.call("POST", "/v2/alice/d/blobs/uploads/")
    loc = r.header("Location") or ""
    alice.call("PATCH", loc, data, {"Content-Range": f"0-{len(data) - 1}"})
    r = alice.call("PUT", f"{loc}?digest={wrong}")
    assert r.status == 400 and r.error_codes() == ["DIGEST_INVALID"]
    assert alice.call("HEAD", f"/v2/alice/d/blobs/{wrong}").status == 404
    r = alice.call("PUT", f"{loc}?digest={ht.sha(data)}")
    assert r.status == 201
    r = alice.call("POST", "/v2/alice/d/blobs/uploads/?digest=sha256:zz", b"x")
    assert r.status == 400 and r.error_codes() == ["DIGEST_INVALID"]


def test_cancel_upload(hub: ht.HubProcess) -> None:
    alice = client(hub, "alice")
    loc = alice.call("POST", "/v2/alice/c/blobs/uploads/").header("Location") or ""
    assert alice.call("DELETE", loc).status == 204
    assert alice.call("GET", loc).status == 404
    assert alice.call("PATCH", loc, b"x").status == 404


def test_manifest_refusals(hub: ht.HubProcess) -> None:
    alice = client(hub, "alice")
    cfg = ht.make_config([])
    doc = ht.image_manifest(cfg, [])
    r = alice.push_manifest("alice/m", "v1", doc)
    assert r.status == 400 and r.error_codes() == ["MANIFEST_BLOB_UNKNOWN"]
    alice.push_blob("alice/m", cfg)
    assert alice.push_manifest("alice/m", "v1", doc).status == 201
    both = dict(doc, manifests=[])
    r = alice.push_manifest("alice/m", "v2", both)
    assert r.status == 400 and r.error_codes() == ["MANIFEST_INVALID"]
    r = alice.call(
        "PUT", "/v2/alice/m/manifests/v3", b"not json", {"Content-Type": ht.OCI_MANIFEST}
    )
    assert r.error_codes() == ["MANIFEST_INVALID"]
    big = b"{" + b" " * (4 * 1024 * 1024 + 10) + b"}"
    r = alice.call("PUT", "/v2/alice/m/manifests/big", big, {"Content-Type": ht.OCI_MANIFEST})
    assert r.status == 413 and r.error_codes() == ["SIZE_INVALID"]
    index = {
        "schemaVersion": 2,
        "mediaType": ht.OCI_INDEX,
        "manifests": [{"mediaType": ht.OCI_MANIFEST, "digest": "sha256:" + "4" * 64, "size": 10}],
    }
    r = alice.push_manifest("alice/m", "idx", index, ht.OCI_INDEX)
    assert r.status == 400 and r.error_codes() == ["MANIFEST_BLOB_UNKNOWN"]
    r = alice.push_manifest("alice/m", "sha256:" + "5" * 64, doc)
    assert r.status == 400 and r.error_codes() == ["DIGEST_INVALID"]
    r = alice.call("GET", "/v2/Bad..Name/manifests/v1")
    assert r.status in (400, 401)


def test_index_and_content_negotiation(hub: ht.HubProcess) -> None:
    root = client(hub, "root")
    amd, amd_doc = root.push_image("library/multi", "amd", platform=("linux", "amd64"))
    arm, arm_doc = root.push_image("library/multi", "arm", platform=("linux", "arm64"))
    index = {
        "schemaVersion": 2,
        "mediaType": ht.OCI_INDEX,
        "manifests": [
            {
                "mediaType": ht.OCI_MANIFEST,
                "digest": amd,
                "size": len(json.dumps(amd_doc)),
                "platform": {"os": "linux", "architecture": "amd64"},
            },
            {
                "mediaType": ht.OCI_MANIFEST,
                "digest": arm,
                "size": len(json.dumps(arm_doc)),
                "platform": {"os": "linux", "architecture": "arm64"},
            },
        ],
    }
    r = root.push_manifest("multi", "latest", index, ht.OCI_INDEX)
    assert r.status == 201
    anon = client(hub)
    r = anon.call(
        "GET",
        "/v2/multi/manifests/latest",
        headers={"Accept": f"{ht.OCI_INDEX}, {ht.OCI_MANIFEST}"},
    )
    assert r.header("Content-Type") == ht.OCI_INDEX
    # The same repository under its long name.
    r = anon.call("GET", "/v2/library/multi/manifests/latest", headers={"Accept": ht.OCI_INDEX})
    assert r.status == 200 and r.header("Content-Type") == ht.OCI_INDEX
    if os.uname().machine in ("x86_64", "aarch64"):
        want = amd if os.uname().machine == "x86_64" else arm
        r = anon.call("GET", "/v2/multi/manifests/latest", headers={"Accept": ht.OCI_MANIFEST})
        assert r.header("Content-Type") == ht.OCI_MANIFEST
        assert r.header("Docker-Content-Digest") == want


def test_deletes(hub: ht.HubProcess) -> None:
    alice = client(hub, "alice")
    digest, doc = alice.push_image("alice/del", "v1")
    alice.push_manifest("alice/del", "v2", doc)
    assert alice.call("DELETE", "/v2/alice/del/manifests/v1").status == 202
    assert alice.call("GET", "/v2/alice/del/tags/list").json()["tags"] == ["v2"]
    assert alice.call("GET", f"/v2/alice/del/manifests/{digest}").status == 200
    assert alice.call("DELETE", f"/v2/alice/del/manifests/{digest}").status == 202
    assert alice.call("GET", "/v2/alice/del/manifests/v2").status == 404
    layer = doc["layers"][0]["digest"]
    assert alice.call("DELETE", f"/v2/alice/del/blobs/{layer}").status == 202
    assert alice.call("HEAD", f"/v2/alice/del/blobs/{layer}").status == 404
    r = alice.call("DELETE", f"/v2/alice/del/blobs/{layer}")
    assert r.status == 404 and r.error_codes() == ["BLOB_UNKNOWN"]
    # bob may not delete alice's things
    bob = client(hub, "bob")
    alice.push_image("alice/del", "v3")
    r = bob.call("DELETE", "/v2/alice/del/manifests/v3")
    assert r.status == 403 and r.error_codes() == ["DENIED"]


def test_cross_repo_mount(make_hub: object) -> None:
    hub = make_hub("default_private = true\n")  # type: ignore[operator]
    alice = client(hub, "alice")
    bob = client(hub, "bob")
    blob = os.urandom(500)
    alice.push_blob("alice/src", blob)
    d = ht.sha(blob)
    r = alice.call(
        "POST",
        f"/v2/alice/dst/blobs/uploads/?mount={d}&from=alice/src",
        scope="repository:alice/dst:pull,push repository:alice/src:pull",
    )
    assert r.status == 201 and r.header("Location") == f"/v2/alice/dst/blobs/{d}"
    assert alice.call("GET", f"/v2/alice/dst/blobs/{d}").body == blob
    # a token without pull on the source gets an upload session instead
    r = alice.call("POST", f"/v2/alice/dst2/blobs/uploads/?mount={d}&from=alice/src")
    assert r.status == 202 and r.header("Docker-Upload-UUID")
    # bob cannot read alice's private repository: a session, not a mount
    r = bob.call(
        "POST",
        f"/v2/bob/x/blobs/uploads/?mount={d}&from=alice/src",
        scope="repository:bob/x:pull,push repository:alice/src:pull",
    )
    assert r.status == 202
    assert bob.call("HEAD", f"/v2/bob/x/blobs/{d}").status == 404
    # anonymous mount (no from) only links blobs the caller could already read
    r = bob.call("POST", f"/v2/bob/y/blobs/uploads/?mount={d}")
    assert r.status == 202
    r = alice.call("POST", f"/v2/alice/z/blobs/uploads/?mount={d}")
    assert r.status == 201
    assert alice.call("GET", f"/v2/alice/z/blobs/{d}").body == blob
    r = alice.call("POST", f"/v2/alice/w/blobs/uploads/?mount={ht.sha(b'never pushed')}")
    assert r.status == 202


def test_referrers(hub: ht.HubProcess) -> None:
    alice = client(hub, "alice")
    subject, sdoc = alice.push_image("alice/ref", "v1")
    empty = b"{}"
    alice.push_blob("alice/ref", empty)
    sig = {
        "schemaVersion": 2,
        "mediaType": ht.OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": ht.sha(empty),
            "size": 2,
        },
        "layers": [
            {"mediaType": "application/vnd.oci.empty.v1+json", "digest": ht.sha(empty), "size": 2}
        ],
        "subject": {"mediaType": ht.OCI_MANIFEST, "digest": subject, "size": len(json.dumps(sdoc))},
        "annotations": {"org.example.who": "alice"},
    }
    body = json.dumps(sig).encode()
    r = alice.call(
        "PUT", f"/v2/alice/ref/manifests/{ht.sha(body)}", body, {"Content-Type": ht.OCI_MANIFEST}
    )
    assert r.status == 201 and r.header("OCI-Subject") == subject
    sbom = dict(sig, artifactType="application/vnd.example.sbom")
    alice.push_manifest("alice/ref", ht.sha(json.dumps(sbom).encode()), sbom)
    r = alice.call("GET", f"/v2/alice/ref/referrers/{subject}")
    assert r.status == 200 and r.header("Content-Type") == ht.OCI_INDEX
    listing = r.json()
    assert listing["mediaType"] == ht.OCI_INDEX
    types = sorted(m["artifactType"] for m in listing["manifests"])
    assert types == ["application/vnd.example.sbom", "application/vnd.example.signature"]
    sig_entry = next(m for m in listing["manifests"] if m["digest"] == ht.sha(body))
    assert sig_entry["annotations"] == {"org.example.who": "alice"}
    assert sig_entry["size"] == len(body)
    q = urllib.parse.quote("application/vnd.example.sbom")
    r = alice.call("GET", f"/v2/alice/ref/referrers/{subject}?artifactType={q}")
    assert [m["artifactType"] for m in r.json()["manifests"]] == ["application/vnd.example.sbom"]
    assert r.header("OCI-Filters-Applied") == "artifactType"
    r = alice.call("GET", f"/v2/alice/ref/referrers/sha256:{'9' * 64}")
    assert r.status == 200 and r.json()["manifests"] == []


def test_page_size_is_bounded_and_linked(make_hub: object) -> None:
    hub = make_hub("max_page = 3\n")  # type: ignore[operator]
    alice = client(hub, "alice")
    _, doc = alice.push_image("alice/tags", "t0")
    for i in range(1, 5):
        alice.push_manifest("alice/tags", f"t{i}", doc)
    r = alice.call("GET", "/v2/alice/tags/tags/list?n=1000000000000")
    assert r.json()["tags"] == ["t0", "t1", "t2"]
    link = r.header("Link") or ""
    assert 'rel="next"' in link and "last=t2" in link and "n=3" in link
    nxt = link[link.index("<") + 1 : link.index(">")]
    r = alice.call("GET", nxt)
    assert r.json()["tags"] == ["t3", "t4"] and r.header("Link") is None
    r = alice.call("GET", "/v2/alice/tags/tags/list?n=0")
    assert r.json()["tags"] == []
    r = alice.call("GET", "/v2/alice/tags/tags/list?n=-1")
    assert r.status == 400
    for i in range(4):
        alice.push_image(f"alice/c{i}", "v1")
    r = alice.call("GET", "/v2/_catalog?n=99999999")
    assert len(r.json()["repositories"]) == 3 and 'rel="next"' in (r.header("Link") or "")
    r = alice.call("GET", "/v2/_catalog?n=2&last=alice/c2")
    assert r.json()["repositories"] == ["alice/c3", "alice/tags"]


def test_unknown_repository_tags(hub: ht.HubProcess) -> None:
    r = client(hub, "alice").call("GET", "/v2/alice/none/tags/list")
    assert r.status == 404 and r.error_codes() == ["NAME_UNKNOWN"]


DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def test_docker_schema2_manifest_and_list(hub: ht.HubProcess) -> None:
    alice = client(hub, "alice")
    docs = {}
    for arch in ("amd64", "arm64"):
        layer = ht.make_layer({arch: os.urandom(100)})
        config = ht.make_config([layer], ("linux", arch))
        alice.push_blob("alice/dk", layer)
        alice.push_blob("alice/dk", config)
        doc = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": ht.sha(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": ht.sha(layer),
                    "size": len(layer),
                }
            ],
        }
        body = json.dumps(doc).encode()
        r = alice.call(
            "PUT", f"/v2/alice/dk/manifests/{arch}", body, {"Content-Type": DOCKER_MANIFEST}
        )
        assert r.status == 201
        docs[arch] = (ht.sha(body), len(body))
    listing = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [
            {
                "mediaType": DOCKER_MANIFEST,
                "digest": d,
                "size": n,
                "platform": {"os": "linux", "architecture": arch},
            }
            for arch, (d, n) in docs.items()
        ],
    }
    r = alice.push_manifest("alice/dk", "latest", listing, DOCKER_LIST)
    assert r.status == 201
    r = alice.call(
        "GET",
        "/v2/alice/dk/manifests/latest",
        headers={"Accept": f"{DOCKER_MANIFEST}, {DOCKER_LIST}"},
    )
    assert r.header("Content-Type") == DOCKER_LIST and r.json() == listing
    r = alice.call("GET", "/v2/alice/dk/manifests/amd64", headers={"Accept": DOCKER_MANIFEST})
    assert r.header("Content-Type") == DOCKER_MANIFEST
    # an index whose child sizes lie is refused
    bad = json.loads(json.dumps(listing))
    bad["manifests"][0]["size"] += 1
    r = alice.push_manifest("alice/dk", "bad", bad, DOCKER_LIST)
    assert r.status == 400 and r.error_codes() == ["MANIFEST_INVALID"]
