"""/containers/{id}/archive (HEAD, GET, PUT) over a container's volumes and binds: the
deepest mount wins, read-only mounts refuse writes with Docker's 500 and message, and
symlinks inside a volume resolve inside the container."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from dockyard_api_test_support import demux, joined  # type: ignore[import-not-found]

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def api(daemon: Any) -> Any:
    return daemon.client


def tar_of(**files: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def read_member(body: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


def put(api: Any, cid: str, path: str, data: bytes) -> Any:
    return api.request(
        "PUT",
        f"/containers/{cid}/archive",
        params={"path": path},
        raw=data,
        headers={"Content-Type": "application/x-tar"},
    )


def exec_out(api: Any, cid: str, cmd: list[str]) -> bytes:
    r = api.post(f"/containers/{cid}/exec", {"Cmd": cmd, "AttachStdout": True})
    assert r.status == 201, r
    r = api.post(f"/exec/{r.json()['Id']}/start", {"Detach": False, "Tty": False})
    assert r.status == 200, r
    return bytes(joined(demux(r.body), 1))


def test_volumes_and_binds_through_the_archive_routes(api: Any, tmp_path: Path) -> None:
    host = tmp_path / "bind"
    host.mkdir()
    cid = api.create(
        Cmd=["sleep", "300"],
        HostConfig={
            "Binds": ["arc-outer:/data", "arc-inner:/data/inner:ro", f"{host}:/srv/b"],
        },
    )
    try:
        api.start(cid)
        r = api.request("HEAD", f"/containers/{cid}/archive", params={"path": "/data/inner"})
        assert r.status == 200, r
        st = json.loads(base64.b64decode(r.headers["x-docker-container-path-stat"]))
        assert st["name"] == "inner" and st["mode"] & (1 << 31)

        r = put(api, cid, "/data", tar_of(**{"a.txt": b"outer\n"}))
        assert r.status == 200, r
        assert exec_out(api, cid, ["cat", "/data/a.txt"]) == b"outer\n"

        r = put(api, cid, "/data/inner", tar_of(**{"b.txt": b"x"}))
        assert r.status == 500 and r.message == "mounted volume is marked read-only"

        r = put(api, cid, "/srv/b/", tar_of(**{"c.txt": b"bound\n"}))
        assert r.status == 200, r
        assert (host / "c.txt").read_bytes() == b"bound\n"

        (host / "from-host").write_bytes(b"host\n")
        r = api.get(f"/containers/{cid}/archive", params={"path": "/srv/b/from-host"})
        assert r.status == 200 and read_member(r.body, "from-host") == b"host\n"
    finally:
        api.delete(f"/containers/{cid}", params={"force": 1, "v": 1})
    for v in ("arc-outer", "arc-inner"):
        api.delete(f"/volumes/{v}")


def test_symlinks_inside_a_volume_stay_in_the_container(api: Any) -> None:
    cid = api.create(Cmd=["sleep", "300"], HostConfig={"Binds": ["arc-l1:/data", "arc-l2:/other"]})
    try:
        api.start(cid)
        mk = "ln -s ../../../../../../etc /data/climb && ln -s /other /data/jump"
        exec_out(api, cid, ["sh", "-c", mk])
        theirs = exec_out(api, cid, ["cat", "/etc/passwd"])
        r = api.get(f"/containers/{cid}/archive", params={"path": "/data/climb/passwd"})
        assert r.status == 200 and read_member(r.body, "passwd") == theirs
        assert theirs != Path("/etc/passwd").read_bytes()
        # A link in one volume to another mount point: the write lands in that volume.
        r = put(api, cid, "/data/jump/", tar_of(**{"via.txt": b"jumped\n"}))
        assert r.status == 200, r
        assert exec_out(api, cid, ["cat", "/other/via.txt"]) == b"jumped\n"
        r = api.request("HEAD", f"/containers/{cid}/archive", params={"path": "/data/jump"})
        st = json.loads(base64.b64decode(r.headers["x-docker-container-path-stat"]))
        assert st["linkTarget"] == "/other" and st["mode"] & (1 << 27)
    finally:
        api.delete(f"/containers/{cid}", params={"force": 1})
    for v in ("arc-l1", "arc-l2"):
        api.delete(f"/volumes/{v}")


def test_stopped_container_read_only_rootfs(api: Any) -> None:
    cid = api.create(
        Cmd=["cat", "/data/put.txt"],
        HostConfig={"Binds": ["arc-ro-root:/data"], "ReadonlyRootfs": True},
    )
    try:
        r = put(api, cid, "/", tar_of(**{"x": b"x"}))
        assert r.status == 500 and r.message == "container rootfs is marked read-only"
        r = put(api, cid, "/data", tar_of(**{"put.txt": b"while created\n"}))
        assert r.status == 200, r
        api.start(cid)
        assert api.wait(cid) == 0
        logs = api.logs(cid)
        assert b"".join(data for _s, data in logs) == b"while created\n"
        r = api.get(f"/containers/{cid}/archive", params={"path": "/data/put.txt"})
        assert r.status == 200 and read_member(r.body, "put.txt") == b"while created\n"
    finally:
        api.delete(f"/containers/{cid}", params={"force": 1})
    api.delete("/volumes/arc-ro-root")


def test_whiteout_names_in_a_cp_archive_are_files(api: Any) -> None:
    """A cp archive is no image layer: `.wh.passwd` is a file named so, /etc/passwd stays."""
    cid = api.create(Cmd=["ls", "-a", "/etc"])
    try:
        r = put(api, cid, "/etc", tar_of(**{".wh.passwd": b"w", ".wh..wh..opq": b"o"}))
        assert r.status == 200, r
        api.start(cid)
        assert api.wait(cid) == 0
        names = b"".join(data for _s, data in api.logs(cid)).split()
        assert {b".wh.passwd", b".wh..wh..opq", b"passwd", b"group"} <= set(names)
    finally:
        api.delete(f"/containers/{cid}", params={"force": 1})
