"""set_rlimit: prlimit64 through libc, with the OCI convention for "unlimited"."""

from __future__ import annotations

import errno
import resource

import pytest

from dockyard.linux.process import set_rlimit

from .conftest import run_in_child

pytestmark = pytest.mark.root


def test_limits_are_set_and_unlimited_is_infinity() -> None:
    def child() -> list[list[int]]:
        set_rlimit(resource.RLIMIT_NOFILE, 100, 200)
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
        set_rlimit(resource.RLIMIT_CORE, -1, 2**64 - 1)
        core = resource.getrlimit(resource.RLIMIT_CORE)
        return [list(nofile), list(core)]

    nofile, core = run_in_child(child)
    assert nofile == [100, 200]
    assert core == [resource.RLIM_INFINITY, resource.RLIM_INFINITY]


def test_soft_above_hard_is_refused() -> None:
    def child() -> int:
        try:
            set_rlimit(resource.RLIMIT_NOFILE, 300, 200)
        except OSError as e:
            return e.errno or 0
        return 0

    assert run_in_child(child) == errno.EINVAL
