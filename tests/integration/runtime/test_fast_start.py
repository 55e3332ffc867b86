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


@pytest.mark.parametrize("clone3", ["1", "0"], ids=["clone3", "fork-fallback"])
def test_run_puts_the_init_in_every_hierarchy(
    rt: Runtime, clone3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without clone3 (old kernels, seccomp) stage1 forks the init and we move it into the
    # v2 hierarchy through cgroup.procs after the start.
    monkeypatch.setenv("DOCKYARD_NO_CLONE3", "0" if clone3 == "1" else "1")
    r = rt.run(make_config(["cat", "/proc/self/cgroup"]))
    assert r.returncode == 0, r.stderr
    cid = rt.created[-1]
    lines = [ln.split(":", 2) for ln in r.stdout.splitlines()]
    # Every hierarchy this host mounts (v1 controllers and the v2 one alike).
    assert sorted(c for _, c, _ in lines) == sorted(_own_hierarchies())
    for _, ctrls, path in lines:
        assert path.endswith("/" + cid), f"{ctrls or 'v2'} not joined: {path}"
    assert not (rt.root / cid).exists()


@pytest.mark.parametrize("no_clone3", ["0", "1"])
def test_cgroup_namespace_is_rooted_at_the_container(
    rt: Runtime, no_clone3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKYARD_NO_CLONE3", no_clone3)
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
