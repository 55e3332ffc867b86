"""oras-py (the ORAS Python SDK from PyPI) pushing and pulling artifacts on the hub."""

from __future__ import annotations

import os
from pathlib import Path

import hubtools as ht
import pytest
from hubtools import USERS

pytestmark = pytest.mark.compat

oras_client = pytest.importorskip("oras.client", reason="oras is not installed (pip install oras)")


def test_oras_push_pull_artifact(
    hub: ht.HubProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_bytes(b"artifact body\n" + os.urandom(64))
    alice = oras_client.OrasClient(hostname=hub.host, insecure=True)
    assert (
        alice.login(username="alice", password=USERS["alice"], hostname=hub.host)["Status"]
        == "Login Succeeded"
    )
    r = alice.push(files=["notes.txt"], target=f"{hub.host}/alice/notes:v1")
    assert r.status_code == 201
    out = tmp_path / "out"
    out.mkdir()
    files = alice.pull(target=f"{hub.host}/alice/notes:v1", outdir=str(out))
    assert [Path(f).read_bytes() for f in files] == [Path("notes.txt").read_bytes()]
    assert alice.get_tags(f"{hub.host}/alice/notes") == ["v1"]

    bob = oras_client.OrasClient(hostname=hub.host, insecure=True)
    bob.login(username="bob", password=USERS["bob"], hostname=hub.host)
    with pytest.raises(Exception):  # noqa: B017 - oras-py raises bare ValueError
        bob.push(files=["notes.txt"], target=f"{hub.host}/alice/notes:v2")
    assert alice.get_tags(f"{hub.host}/alice/notes") == ["v1"]
