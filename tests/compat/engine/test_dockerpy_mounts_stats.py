"""docker-py against dockyardd: put_archive/get_archive into volumes, and stats' I/O keys."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]

docker = pytest.importorskip("docker")


def _tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_archive_into_and_out_of_volumes(client: Any) -> None:
    vol = client.volumes.create("dpy-cp-vol")
    c = client.containers.run(
        "busybox",
        ["sleep", "300"],
        detach=True,
        volumes={
            "dpy-cp-vol": {"bind": "/data", "mode": "rw"},
            "dpy-cp-ro": {"bind": "/ro", "mode": "ro"},
        },
    )
    try:
        assert c.put_archive("/data", _tar("p.txt", b"via docker-py\n"))
        seen = client.containers.run(
            "busybox", ["cat", "/v/p.txt"], volumes={"dpy-cp-vol": {"bind": "/v"}}, remove=True
        )
        assert seen == b"via docker-py\n"
        chunks, stat = c.get_archive("/data/p.txt")
        assert stat["name"] == "p.txt" and stat["size"] == len(b"via docker-py\n")
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
            f = tar.extractfile("p.txt")
            assert f is not None and f.read() == b"via docker-py\n"
        with pytest.raises(docker.errors.APIError, match="mounted volume is marked read-only"):
            c.put_archive("/ro", _tar("q.txt", b"no"))
    finally:
        c.remove(force=True)
        vol.remove()
        client.volumes.get("dpy-cp-ro").remove()


def test_stats_io_keys(client: Any) -> None:
    c = client.containers.run("busybox", ["sleep", "300"], detach=True, network_mode="none")
    try:
        s = c.stats(stream=False)
        assert "networks" not in s  # no interface of its own, as with Docker
        blk = s["blkio_stats"]
        assert isinstance(blk["io_service_bytes_recursive"], (list, type(None)))
        assert {"io_service_bytes_recursive", "io_serviced_recursive"} <= set(blk)
    finally:
        c.remove(force=True)
