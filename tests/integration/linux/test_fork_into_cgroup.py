"""fork_into_cgroup: clone3(CLONE_INTO_CGROUP) puts the child in a v2 cgroup from birth."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from dockyard.linux.process import fork_into_cgroup

pytestmark = pytest.mark.root


def _v2_parent() -> Path:
    for cand in (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup")):
        if (cand / "cgroup.controllers").exists():
            return cand
    pytest.skip("no cgroup v2 hierarchy mounted")


def _children() -> set[str]:
    me = os.getpid()
    return set(Path(f"/proc/{me}/task/{me}/children").read_text().split())


def _child_reports_cgroup(fd: int) -> tuple[int, str]:
    r, w = os.pipe()
    pid = fork_into_cgroup(fd)
    if pid == 0:  # pragma: no cover - child: no at-fork handlers ran, keep it minimal
        try:
            with open("/proc/self/cgroup", "rb") as f:
                os.write(w, f.read())
        finally:
            os._exit(0)
    os.close(w)
    out = b""
    while chunk := os.read(r, 4096):
        out += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return status, out.decode()


def test_child_is_born_in_the_cgroup() -> None:
    d = _v2_parent() / f"dockyard-test-{uuid.uuid4().hex[:8]}"
    d.mkdir()
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        status, text = _child_reports_cgroup(fd)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        v2_line = next(ln for ln in text.splitlines() if ln.startswith("0::"))
        assert v2_line.endswith("/" + d.name), text
        # The parent itself never moved.
        own = Path("/proc/self/cgroup").read_text()
        assert d.name not in own
    finally:
        os.close(fd)
        d.rmdir()  # empty again: the child was reaped


def test_a_directory_that_is_no_cgroup_is_refused_without_a_child(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    before = _children()
    try:
        with pytest.raises(OSError):
            fork_into_cgroup(fd)
        assert _children() == before  # no child was created
    finally:
        os.close(fd)


def test_clone_process_makes_the_child_in_new_namespaces() -> None:
    from dockyard.linux.namespaces import CLONE_NEWPID, CLONE_NEWUTS
    from dockyard.linux.process import clone_process, sethostname

    r, w = os.pipe()
    pid = clone_process(CLONE_NEWUTS | CLONE_NEWPID)
    if pid == 0:  # pragma: no cover - child
        try:
            sethostname("dockyard-clone-test")
            os.write(w, f"{os.getpid()} {os.uname().nodename}".encode())
        finally:
            os._exit(0)
    os.close(w)
    out = os.read(r, 4096).decode()
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert out == "1 dockyard-clone-test"  # PID 1 of its own pid namespace, own hostname
    assert os.uname().nodename != "dockyard-clone-test"
