"""Magic links of a real procfs inside the root never lead out of it (CVE-2019-5736 /
CVE-2021-30465 class): openat2 refuses them, the walk resolves their text inside."""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dockyard.linux import paths
from dockyard.linux.libc import libc

pytestmark = pytest.mark.root
InChild = Callable[..., Any]

CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18


def _c(ret: int, what: str) -> None:
    if ret != 0:
        raise OSError(ctypes.get_errno(), what)


@pytest.mark.parametrize("resolver", ["openat2", "walk"])
def test_procfs_in_root(in_child: InChild, tmp_path: Path, resolver: str) -> None:
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("container\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host\n")

    def child() -> dict[str, Any]:
        paths.use_openat2(False if resolver == "walk" else None)
        _c(libc.unshare(CLONE_NEWNS), "unshare")
        _c(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make private")
        _c(libc.mount(b"proc", str(root / "proc").encode(), b"proc", 0, None), "mount proc")
        rfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        host_dir = os.open(outside, os.O_PATH | os.O_DIRECTORY)  # a host fd to aim at
        out: dict[str, Any] = {}
        for q in (
            "proc/self/root/etc/passwd",
            f"proc/self/fd/{host_dir}/secret",
            f"proc/{os.getpid()}/cwd",
            "proc/self/exe",
        ):
            try:
                fd = paths.open_in_root(rfd, q)
            except OSError as e:
                out[q] = ["err", e.errno]
                continue
            out[q] = ["ok", os.readlink(paths.proc_fd_path(fd))]
            os.close(fd)
        # Ordinary procfs files stay reachable: only links are in question.
        fd = paths.open_in_root(rfd, "proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
        out["status"] = os.read(fd, 100).decode().splitlines()[0]
        os.close(fd)
        return out

    out = in_child(child)
    assert out.pop("status").startswith("Name:")
    for q, (kind, value) in out.items():
        if kind == "ok":
            assert value == str(root) or value.startswith(str(root) + "/"), (q, value)
        else:
            assert value in (errno.ELOOP, errno.ENOENT, errno.EXDEV, errno.ENOTDIR), (q, value)
    if resolver == "openat2":
        assert out["proc/self/root/etc/passwd"] == ["err", errno.ELOOP]
    else:
        # The link text "/" is taken inside the root: the container's own passwd.
        assert out["proc/self/root/etc/passwd"] == ["ok", str(root / "etc" / "passwd")]
