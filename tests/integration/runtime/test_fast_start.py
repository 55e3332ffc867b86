"""What the fast `run` path must keep: every hierarchy joined, the cgroup namespace rooted
at the container's cgroup, and nothing of the container left afterwards."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import Runtime, make_config

pytestmark = pytest.mark.root


def _own_hierarchies() -> list[str]:
    return [ln.split(":", 2)[1] for ln in Path("/proc/self/cgroup").read_text().splitlines()]


def test_run_puts_the_init_in_every_hierarchy(rt: Runtime) -> None:
    r = rt.run(make_config(["cat", "/proc/self/cgroup"]))
    assert r.returncode == 0, r.stderr
    cid = rt.created[-1]
    lines = [ln.split(":", 2) for ln in r.stdout.splitlines()]
    # Every hierarchy this host mounts (v1 controllers and the v2 one alike).
    assert sorted(c for _, c, _ in lines) == sorted(_own_hierarchies())
    for _, ctrls, path in lines:
        assert path.endswith("/" + cid), f"{ctrls or 'v2'} not joined: {path}"
    assert not (rt.root / cid).exists()


def test_cgroup_namespace_is_rooted_at_the_container(rt: Runtime) -> None:
    cfg = make_config(["cat", "/proc/self/cgroup"])
    cfg["linux"]["namespaces"].append({"type": "cgroup"})
    out = rt.output(cfg)
    paths = [ln.split(":", 2)[2] for ln in out.splitlines()]
    assert paths and all(p == "/" for p in paths), out


def test_run_leaves_no_cgroup_directory(rt: Runtime) -> None:
    assert rt.run(make_config(["true"])).returncode == 0
    cid = rt.created[-1]
    for base in Path("/sys/fs/cgroup").iterdir():
        found = [d for d, _, _ in os.walk(base) if d.endswith("/" + cid)]
        assert not found, found
