from __future__ import annotations

import pytest

from dockyard.hub.routes import Route, action_for, match


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v2/", Route("base")),
        ("/v2", Route("base")),
        ("/v2/_catalog", Route("catalog")),
        ("/v2/busybox/tags/list", Route("tags", "busybox")),
        ("/v2/alice/tags/tags/list", Route("tags", "alice/tags")),
        ("/v2/a/b/c/manifests/latest", Route("manifest", "a/b/c", "latest")),
        ("/v2/a/manifests/sha256:abc", Route("manifest", "a", "sha256:abc")),
        ("/v2/a/blobs/uploads/", Route("upload_start", "a")),
        ("/v2/a/blobs/uploads", Route("upload_start", "a")),
        ("/v2/a/blobs/uploads/xyz", Route("upload", "a", "xyz")),
        ("/v2/a/blobs/sha256:abc", Route("blob", "a", "sha256:abc")),
        ("/v2/a/blobs/blobs/uploads/", Route("upload_start", "a/blobs")),
        ("/v2/a/referrers/sha256:abc", Route("referrers", "a", "sha256:abc")),
    ],
)
def test_match(path: str, route: Route) -> None:
    assert match(path) == route


@pytest.mark.parametrize("path", ["/v2/a/unknown/x", "/v3/", "/v2/a/manifests/", "/other"])
def test_no_match(path: str) -> None:
    assert match(path) is None


def test_actions() -> None:
    assert action_for("manifest", "GET") == "pull"
    assert action_for("blob", "HEAD") == "pull"
    assert action_for("manifest", "PUT") == "push"
    assert action_for("upload", "PATCH") == "push"
    assert action_for("upload", "DELETE") == "push"  # cancelling one's own upload
    assert action_for("manifest", "DELETE") == "delete"
    assert action_for("blob", "DELETE") == "delete"
