"""--user resolution against a container's passwd and group files."""

from __future__ import annotations

import pytest

from dockyard.engine.errors import InvalidParameter
from dockyard.engine.users import resolve

PASSWD = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n"
GROUP = "root:x:0:\nwww:x:33:\nextra:x:50:www,other\n"


def test_by_name_with_supplementary_groups() -> None:
    u = resolve("www", PASSWD, GROUP)
    assert (u.uid, u.gid, u.additional_gids, u.home) == (33, 33, [50], "/var/www")


def test_numeric_and_group_override() -> None:
    assert resolve("1000", PASSWD, GROUP).uid == 1000
    u = resolve("www:extra", PASSWD, GROUP)
    assert (u.uid, u.gid) == (33, 50)
    assert resolve("5:7", "", "").gid == 7


def test_unknown_names() -> None:
    with pytest.raises(InvalidParameter, match="unable to find user nobody"):
        resolve("nobody", PASSWD, GROUP)
    with pytest.raises(InvalidParameter, match="unable to find group"):
        resolve("www:nogroup", PASSWD, GROUP)
