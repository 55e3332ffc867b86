"""Two machines: network namespaces made by the test, the hub on one, a dockyardd with its own
data root on each of two others. Commit an image on the first, push it, pull it on the
second, run it there: same digest, same output."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import daemons
import netns
from dockyard_distribution_test_support import PY, Hub  # type: ignore[import-not-found]

pytestmark = pytest.mark.root


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[dict[str, Any]]:
    if shutil.which("ip") is None:
        pytest.skip("iproute2 is not installed")
    world = netns.Lab()
    started: list[Any] = []
    hub = None
    try:
        try:
            world.create(["hub", "m1", "m2"])
        except RuntimeError as e:
            pytest.skip(f"cannot create network namespaces: {e}")
        hub = Hub(tmp_path / "hub", host=world.machines["hub"], port=5000)
        hub.prefix = world.exec_prefix("hub")
        hub.data.mkdir(parents=True)
        hub.add_user("alice", "alice-pass-1")
        hub.start()
        world.wait_tcp("m1", hub.host, hub.port, PY)
        env = {"DOCKYARD_INSECURE_REGISTRIES": world.cidr}
        for m in ("m1", "m2"):
            started.append(daemons.make_daemon(env, netns=world.exec_prefix(m)))
        yield {"world": world, "hub": hub, "m1": started[0], "m2": started[1]}
    finally:
        for d in started:
            d.cleanup()
        if hub is not None:
            hub.stop()
        world.destroy()
        leftover = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert world.tag not in leftover


def test_commit_push_on_one_machine_pull_and_run_on_another(lab: dict[str, Any]) -> None:
    hub, m1, m2 = lab["hub"], lab["m1"], lab["m2"]
    registry = hub.addr  # 10.x.0.1:5000, reachable only inside the lab
    auth = {"X-Registry-Auth": daemons.registry_auth("alice", "alice-pass-1", registry)}
    m1.bootstrap()

    # On m1: make something new and commit it as an image.
    cid = m1.client.create(Image="busybox", Cmd=["sh", "-c", "echo made on m1 > /msg"])
    m1.client.start(cid)
    assert m1.client.wait(cid) == 0
    repo = f"{registry}/alice/app"
    r = m1.client.post(
        "/commit", {"Cmd": ["cat", "/msg"]}, params={"container": cid, "repo": repo, "tag": "1"}
    )
    assert r.status == 201, r

    r = m1.client.post(f"/images/{repo}/push", params={"tag": "1"}, headers=auth)
    pushed = daemons.json_lines(r.body)
    assert r.status == 200 and not [m for m in pushed if "error" in m], pushed
    digest = next(m["aux"]["Digest"] for m in pushed if "aux" in m)

    r = m2.client.post("/images/create", params={"fromImage": repo, "tag": "1"}, headers=auth)
    pulled = daemons.json_lines(r.body)
    assert r.status == 200 and not [m for m in pulled if "error" in m], pulled
    on_m2 = m2.client.get(f"/images/{repo}:1/json").json()
    assert on_m2["Id"] == m1.client.get(f"/images/{repo}:1/json").json()["Id"]
    assert f"{repo}@{digest}" in on_m2["RepoDigests"]

    cid2 = m2.client.create(Image=f"{repo}:1")
    m2.client.start(cid2)
    assert m2.client.wait(cid2) == 0
    support = daemons.api_support()
    assert support.joined(m2.client.logs(cid2), 1) == b"made on m1\n"
