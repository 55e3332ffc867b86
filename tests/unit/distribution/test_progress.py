"""Docker's progress messages, as docker's jsonmessage renders them."""

from __future__ import annotations

import json

from dockyard.distribution import progress as pm
from dockyard.oci.digest import Digest


def test_short_id_and_sizes() -> None:
    d = Digest.parse("sha256:" + "ab" * 32)
    assert pm.short_id(d) == "abababababab"
    assert pm.human_size(0) == "0B"
    assert pm.human_size(999) == "999B"
    assert pm.human_size(1234) == "1.234kB"
    assert pm.human_size(2_140_160) == "2.14MB"
    assert pm.human_size(5 * 10**9) == "5GB"


def test_progress_bar_shape() -> None:
    bar = pm.progress_bar(50, 100)
    assert bar.startswith("[" + "=" * 25 + ">" + " " * 24 + "]")
    assert bar.endswith("50B/100B")
    assert pm.progress_bar(100, 100).startswith("[" + "=" * 50 + "]")
    assert "[" not in pm.progress_bar(10, 0)


def test_messages_and_encoding() -> None:
    m = pm.layer_progress("Downloading", "abc", 1, 2)
    assert m["progressDetail"] == {"current": 1, "total": 2} and m["id"] == "abc"
    assert pm.status("Pulling from library/busybox", "latest") == {
        "status": "Pulling from library/busybox",
        "id": "latest",
    }
    assert pm.layer_status("Pull complete", "x") == {
        "status": "Pull complete",
        "progressDetail": {},
        "id": "x",
    }
    line = pm.encode(pm.error("boom"))
    assert line.endswith(b"\r\n")
    assert json.loads(line) == {"errorDetail": {"message": "boom"}, "error": "boom"}
    assert pm.aux({"Tag": "1"})["aux"] == {"Tag": "1"}
