"""docker-py (the `docker` SDK from PyPI) against dockyardd."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest

pytestmark = [pytest.mark.compat, pytest.mark.root]

docker = pytest.importorskip("docker")


def test_containers_run_and_wait(client: Any) -> None:
    assert client.containers.run("busybox", ["echo", "hello"], remove=True) == b"hello\n"
    c = client.containers.run("busybox", ["sh", "-c", "exit 3"], detach=True)
    assert c.wait()["StatusCode"] == 3
    c.remove()
    # docker-py pulls a missing image; with no registry reachable the pull fails clearly.
    with pytest.raises(docker.errors.APIError, match=r"registry|not available"):
        client.containers.run("nosuch:image", "true")
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("nosuch")


def test_logs_stream_and_exec_run(client: Any) -> None:
    c = client.containers.run(
        "busybox",
        ["sh", "-c", "for i in 1 2 3; do echo l$i; sleep 0.2; done; sleep 100"],
        detach=True,
    )
    lines = []
    for chunk in c.logs(stream=True, follow=True):
        lines.append(chunk)
        if b"l3" in b"".join(lines):
            break
    assert b"".join(lines).splitlines()[:3] == [b"l1", b"l2", b"l3"]
    res = c.exec_run(["sh", "-c", "echo $X; exit 2"], environment={"X": "y"})
    assert res.exit_code == 2 and res.output == b"y\n"
    res = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
    assert res.output == (b"o\n", b"e\n")
    c.remove(force=True)


def test_attach_socket(client: Any) -> None:
    c = client.containers.create("busybox", ["sh", "-c", "sleep 0.5; echo attached"])
    out = c.attach(stream=True, logs=True)
    c.start()
    assert b"".join(out) == b"attached\n"
    assert c.wait()["StatusCode"] == 0
    c.remove()


def test_put_and_get_archive(client: Any) -> None:
    c = client.containers.run("busybox", ["sleep", "100"], detach=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"payload\n"
        ti = tarfile.TarInfo("p.txt")
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    assert c.put_archive("/tmp", buf.getvalue())
    stream, st = c.get_archive("/tmp/p.txt")
    assert st["name"] == "p.txt" and st["size"] == 8
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        f = tar.extractfile("p.txt")
        assert f is not None and f.read() == b"payload\n"
    c.remove(force=True)


def test_images_load_and_volumes(client: Any) -> None:
    data = b"".join(client.images.get("busybox").save())
    loaded = client.images.load(data)
    assert any("busybox:latest" in img.tags for img in loaded)
    v = client.volumes.create("py-vol", labels={"k": "v"})
    assert v.name == "py-vol" and client.volumes.get("py-vol").attrs["Labels"] == {"k": "v"}
    out = client.containers.run(
        "busybox",
        ["sh", "-c", "echo hi > /v/f; cat /v/f"],
        volumes={"py-vol": {"bind": "/v", "mode": "rw"}},
        remove=True,
    )
    assert out == b"hi\n"
    v.remove()
    info = client.info()
    assert info["OSType"] == "linux"
    assert client.version()["ApiVersion"] == "1.44"
