"""Docker's config.json credentials and the X-Registry-Auth header."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from dockyard.distribution import credentials as cr
from dockyard.distribution.errors import InvalidAuthConfig


def test_round_trip_mode_0600_and_keeps_other_keys(tmp_path: Path) -> None:
    p = tmp_path / "d" / "config.json"
    p.parent.mkdir()
    p.write_text(json.dumps({"credsStore": "", "proxies": {"default": {}}}))
    cr.store_credentials("127.0.0.1:5000", "alice", "pa:ss", p)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    data = json.loads(p.read_text())
    assert data["proxies"] == {"default": {}}
    assert base64.b64decode(data["auths"]["127.0.0.1:5000"]["auth"]) == b"alice:pa:ss"
    got = cr.get_credentials("http://127.0.0.1:5000/", p)
    assert got is not None and (got.username, got.password) == ("alice", "pa:ss")
    assert cr.get_credentials("127.0.0.1:5001", p) is None
    assert cr.erase_credentials("127.0.0.1:5000", p) is True
    assert cr.erase_credentials("127.0.0.1:5000", p) is False
    assert cr.get_credentials("127.0.0.1:5000", p) is None
    assert not list(p.parent.glob(".config.json.*"))  # no temp files left


def test_docker_hub_key_and_new_dir(tmp_path: Path) -> None:
    p = tmp_path / "new" / "config.json"
    cr.store_credentials("docker.io", "u", "p", p)
    assert "https://index.docker.io/v1/" in json.loads(p.read_text())["auths"]
    assert stat.S_IMODE(p.parent.stat().st_mode) == 0o700
    assert cr.get_credentials("", p) is not None


def test_config_path_honours_docker_config(tmp_path: Path) -> None:
    assert cr.config_path({"DOCKER_CONFIG": str(tmp_path)}) == tmp_path / "config.json"
    assert cr.config_path({"HOME": "/home/x"}) == Path("/home/x/.docker/config.json")


def test_bad_files(tmp_path: Path) -> None:
    p = tmp_path / "config.json"
    p.write_text("{not json")
    with pytest.raises(InvalidAuthConfig):
        cr.load_config(p)
    p.write_text(json.dumps({"auths": {"h:1": {"auth": "bm9jb2xvbg=="}}}))  # "nocolon"
    with pytest.raises(InvalidAuthConfig):
        cr.get_credentials("h:1", p)
    assert cr.load_config(tmp_path / "missing.json") == {}


def test_registry_auth_header_round_trip() -> None:
    a = cr.AuthConfig("alice", "pw", "127.0.0.1:5000")
    header = cr.encode_registry_auth(a)
    assert "+" not in header and "/" not in header
    assert cr.decode_registry_auth(header) == a
    # docker's CLI sends "e30=" ({}) when it has nothing; unpadded base64url is accepted.
    assert cr.decode_registry_auth("e30=") is None
    assert cr.decode_registry_auth("") is None
    unpadded = base64.urlsafe_b64encode(b'{"username":"u","password":"p"}').decode().rstrip("=")
    got = cr.decode_registry_auth(unpadded)
    assert got is not None and got.username == "u"
    with pytest.raises(InvalidAuthConfig):
        cr.decode_registry_auth("!!!notbase64")
