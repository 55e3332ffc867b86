"""How /images/create's fromImage and tag, and /push's name and tag, become references."""

from __future__ import annotations

import pytest

from dockyard.distribution.errors import DistributionError
from dockyard.distribution.pull import parse_pull_reference
from dockyard.distribution.push import parse_push_reference

DIGEST = "sha256:" + "a" * 64


def test_pull_references() -> None:
    assert str(parse_pull_reference("busybox")) == "docker.io/library/busybox:latest"
    assert str(parse_pull_reference("busybox", "1.36")) == "docker.io/library/busybox:1.36"
    assert str(parse_pull_reference("h:5000/a/b", DIGEST)) == f"h:5000/a/b@{DIGEST}"
    assert str(parse_pull_reference(f"h:5000/a/b@{DIGEST}")) == f"h:5000/a/b@{DIGEST}"
    assert str(parse_pull_reference("h:5000/a/b:1")) == "h:5000/a/b:1"
    with pytest.raises(DistributionError, match="invalid reference format"):
        parse_pull_reference("a/UPPER")
    with pytest.raises(DistributionError):
        parse_pull_reference("a/b", "bad tag!")


def test_push_references() -> None:
    assert str(parse_push_reference("h:5000/a/b", "2")) == "h:5000/a/b:2"
    assert parse_push_reference("h:5000/a/b").tag is None  # every tag of the repository
    with pytest.raises(DistributionError, match="digest"):
        parse_push_reference(f"h:5000/a/b@{DIGEST}")
