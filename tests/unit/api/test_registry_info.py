"""/info's RegistryConfig reflects the daemon's registry settings, in Docker's shape."""

from dockyard.api.system import registry_config_info
from dockyard.distribution.registries import RegistryConfig


def test_defaults_trust_only_loopback() -> None:
    info = registry_config_info(RegistryConfig.from_env({}))
    assert info["InsecureRegistryCIDRs"] == ["127.0.0.0/8"]
    assert list(info["IndexConfigs"]) == ["docker.io"]
    assert info["IndexConfigs"]["docker.io"]["Official"] is True


def test_insecure_hosts_cidrs_and_default_registry() -> None:
    env = {
        "DOCKYARD_INSECURE_REGISTRIES": "reg.test:5000, 10.9.0.0/16",
        "DOCKYARD_DEFAULT_REGISTRY": "hub.test:443",
    }
    info = registry_config_info(RegistryConfig.from_env(env))
    assert info["InsecureRegistryCIDRs"] == ["127.0.0.0/8", "10.9.0.0/16"]
    index = info["IndexConfigs"]
    assert index["reg.test:5000"]["Secure"] is False
    assert index["hub.test:443"] == {
        "Name": "hub.test:443",
        "Mirrors": [],
        "Secure": True,
        "Official": False,
    }
