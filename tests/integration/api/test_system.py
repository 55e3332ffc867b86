"""System routes and error handling of a real dockyardd."""

from __future__ import annotations

import os
import stat
from typing import Any

import pytest

pytestmark = pytest.mark.root


def test_ping_headers_on_head_and_get(api: Any) -> None:
    for method in ("GET", "HEAD"):
        r = api.request(method, "/_ping")
        assert r.status == 200
        assert r.headers["api-version"] == "1.44"
        assert r.headers["ostype"] == "linux"
        assert r.headers["server"].startswith("Docker/")
        assert r.headers["docker-experimental"] == "false"
        assert "builder-version" not in r.headers
    assert api.get("/_ping").body == b"OK"


def test_version_and_info_shapes(api: Any, daemon: Any) -> None:
    v = api.get("/version").json()
    assert v["ApiVersion"] == "1.44" and v["MinAPIVersion"] == "1.24"
    assert v["Os"] == "linux" and v["Components"][0]["Name"] == "Engine"
    info = api.get("/info").json()
    assert info["DockerRootDir"] == str(daemon.data_root)
    assert info["Images"] >= 1
    assert info["Driver"] and info["OSType"] == "linux"
    assert isinstance(info["Containers"], int)


@pytest.mark.parametrize("version", ["v1.24", "v1.41", "v1.44", ""])
def test_versioned_and_unversioned_paths(daemon: Any, version: str) -> None:
    from dockyard_api_test_support import Client  # type: ignore[import-not-found]

    assert Client(daemon.sock, version).get("/containers/json").status == 200


@pytest.mark.parametrize(
    ("version", "words"),
    [("v1.23", "is too old"), ("v1.45", "is too new"), ("v9.99", "is too new")],
)
def test_unsupported_versions(daemon: Any, version: str, words: str) -> None:
    from dockyard_api_test_support import Client

    r = Client(daemon.sock, version).get("/containers/json")
    assert r.status == 400 and words in r.message


def test_socket_mode(daemon: Any) -> None:
    st = os.stat(daemon.sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_gid == 0


def test_unknown_route_and_objects(api: Any) -> None:
    assert api.get("/nothing/here").status == 404
    r = api.get("/containers/nosuch/json")
    assert r.status == 404 and r.message == "No such container: nosuch"
    r = api.get("/images/nosuch/json")
    assert r.status == 404 and "No such image" in r.message
    r = api.get("/volumes/nosuch")
    assert r.status == 404


def test_bad_bodies(api: Any) -> None:
    r = api.post(
        "/containers/create", raw=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status == 400 and "invalid JSON" in r.message
    big = b"[" + b"1," * (40 * 1024 * 1024) + b"1]"
    r = api.post(
        "/containers/create", raw=big, headers={"Content-Type": "application/json"}, timeout=120
    )
    assert r.status == 413
    r = api.post("/containers/create", {"Image": "nosuch:image", "Cmd": ["true"]})
    assert r.status == 404 and "No such image: nosuch:image" in r.message
    r = api.post(
        "/containers/create",
        {
            "Image": "busybox",
            "Cmd": ["true"],
            "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}},
        },
    )
    assert r.status == 400 and "bridge networking" in r.message
    assert api.get("/containers/json").status == 200


def test_registry_features_answer_clearly(api: Any) -> None:
    # No registry is reachable here: a pull, a push and a search each answer with a
    # status and one clear message (never a crash, never a hang).
    for r in (
        api.post("/images/create", params={"fromImage": "alpine", "tag": "latest"}),
        api.post("/images/busybox/push"),
        api.get("/images/search", params={"term": "x"}),
    ):
        assert 400 <= r.status < 600 and r.status != 500, r
        assert r.message


def test_volumes_lifecycle(api: Any) -> None:
    r = api.post("/volumes/create", {"Name": "v1", "Labels": {"a": "b"}})
    assert r.status == 201 and r.json()["Name"] == "v1"
    assert os.path.isdir(r.json()["Mountpoint"])
    # Creating it again returns the same volume.
    assert api.post("/volumes/create", {"Name": "v1"}).status == 201
    names = [v["Name"] for v in api.get("/volumes").json()["Volumes"]]
    assert "v1" in names
    f = '{"label": ["a=b"]}'
    assert [v["Name"] for v in api.get("/volumes", params={"filters": f}).json()["Volumes"]] == [
        "v1"
    ]
    assert api.get("/volumes/v1").json()["Labels"] == {"a": "b"}
    assert api.delete("/volumes/v1").status == 204
    assert api.get("/volumes/v1").status == 404
    assert api.delete("/volumes/v1").status == 404
    r = api.post("/volumes/create", {"Name": "bad/name"})
    assert r.status == 400


def test_tmpfs_volume_options(api: Any) -> None:
    r = api.post(
        "/volumes/create",
        {"Name": "tv", "DriverOpts": {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}},
    )
    assert r.status == 201
    assert api.get("/volumes/tv").json()["Options"]["type"] == "tmpfs"
    assert api.delete("/volumes/tv").status == 204


def test_builtin_networks(api: Any) -> None:
    nets = {n["Name"]: n for n in api.get("/networks").json()}
    assert set(nets) == {"none", "host"} and nets["host"]["Driver"] == "host"
    assert api.get("/networks/host").json()["Scope"] == "local"
    assert api.get("/networks/bridge").status == 404
    r = api.post("/networks/create", {"Name": "mynet"})
    assert r.status == 501 and "bridge networking" in r.message
    assert api.delete("/networks/none").status == 403
