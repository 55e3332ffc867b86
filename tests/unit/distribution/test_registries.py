"""Registry endpoint policy: default registry, insecure list, Docker Hub refused offline."""

from __future__ import annotations

import pytest

from dockyard.distribution.errors import RegistryUnreachable
from dockyard.distribution.registries import RegistryConfig, auth_key, is_loopback
from dockyard.distribution.search import split_term
from dockyard.oci.reference import normalize


def test_docker_io_fails_fast_without_default() -> None:
    cfg = RegistryConfig.from_env({})
    with pytest.raises(RegistryUnreachable, match="DOCKYARD_DEFAULT_REGISTRY"):
        cfg.endpoint_for(normalize("busybox"))


def test_default_registry_stands_in_for_docker_io() -> None:
    cfg = RegistryConfig.from_env({"DOCKYARD_DEFAULT_REGISTRY": "127.0.0.1:5000"})
    ep = cfg.endpoint_for(normalize("busybox"))
    assert ep.host == "127.0.0.1:5000" and not ep.secure
    assert ep.base_url == "https://127.0.0.1:5000"  # TLS tried first, as Docker does


def test_insecure_list_and_cidr() -> None:
    cfg = RegistryConfig.from_env({"DOCKYARD_INSECURE_REGISTRIES": "reg.lan:5000, 10.77.0.0/16"})
    assert not cfg.endpoint("reg.lan:5000").secure
    assert not cfg.endpoint("10.77.0.1:5000").secure
    assert cfg.endpoint("10.78.0.1:5000").secure
    assert cfg.endpoint("reg.lan:5001").secure
    assert not cfg.endpoint("localhost:5000").secure
    assert is_loopback("[::1]:5000") and is_loopback("127.0.0.2") and not is_loopback("10.0.0.1")


def test_auth_keys_and_search_terms() -> None:
    assert auth_key("") == "https://index.docker.io/v1/"
    assert auth_key("https://index.docker.io/v1/") == "https://index.docker.io/v1/"
    assert auth_key("http://127.0.0.1:5000/v2/") == "127.0.0.1:5000"
    assert split_term("127.0.0.1:5000/bb") == ("127.0.0.1:5000", "bb")
    assert split_term("alice/bb") == ("docker.io", "alice/bb")
    assert split_term("busybox") == ("docker.io", "busybox")
