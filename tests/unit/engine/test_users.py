"""--user resolution inside a container's root: the files are the container's, read without
leaving its root, and the errors are the engine's (400)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.engine.errors import InvalidParameter
from dockyard.engine.users import lookup

PASSWD = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n"
GROUP = "root:x:0:\nwww:x:33:\nextra:x:50:www,other\nadded:x:60:\n"


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    return root


def test_by_name_with_supplementary_and_added_groups(rootfs: Path) -> None:
    u = lookup(str(rootfs), "www")
    assert (u.uid, u.gid, u.additional_gids, u.home) == (33, 33, (33, 50), "/var/www")
    assert lookup(str(rootfs), "www", ["added", "7"]).additional_gids == (33, 50, 60, 7)
    assert (lookup(str(rootfs), "www:extra").gid, lookup(str(rootfs), "5:7").gid) == (50, 7)


def test_unknown_names_are_bad_requests(rootfs: Path) -> None:
    with pytest.raises(InvalidParameter, match=r"^unable to find user nobody: no matching"):
        lookup(str(rootfs), "nobody")
    with pytest.raises(InvalidParameter, match=r"^unable to find group nogroup"):
        lookup(str(rootfs), "www:nogroup")


def test_files_are_read_inside_the_root(rootfs: Path, tmp_path: Path) -> None:
    """A passwd that is a symlink out of the root does not reach the host's file."""
    outside = tmp_path / "host-passwd"
    outside.write_text("ghost:x:4242:4242::/ghost:/bin/sh\n")
    (rootfs / "etc" / "passwd").unlink()
    (rootfs / "etc" / "passwd").symlink_to(outside)
    with pytest.raises(InvalidParameter, match="unable to find user ghost"):
        lookup(str(rootfs), "ghost")
    # Numeric users need no file.
    assert lookup(str(rootfs), "4242").uid == 4242
