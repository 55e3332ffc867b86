"""`GET /images/json?filters={"reference": ...}`: Docker's matching of names and tags."""

from __future__ import annotations

import pytest

from dockyard.api.images import _ref_match


@pytest.mark.parametrize(
    ("tag", "pattern", "expected"),
    [
        ("busybox:latest", "busybox", True),
        ("busybox:latest", "busybox:latest", True),
        ("busybox:latest", "busybox:1", False),
        ("busybox:latest", "busy*", True),
        ("me/web:1", "me/*", True),
        ("127.0.0.1:5000/alice/x:latest", "127.0.0.1:5000/alice/x", True),
        ("127.0.0.1:5000/alice/x:latest", "127.0.0.1:5000/alice/x:latest", True),
        ("127.0.0.1:5000/alice/x:latest", "127.0.0.1:5000/alice/x:2", False),
        ("127.0.0.1:5000/alice/x:latest", "127.0.0.1:5000/alice/y", False),
    ],
)
def test_reference_filter(tag: str, pattern: str, expected: bool) -> None:
    assert _ref_match(tag, pattern) is expected
