"""dockyardd's registry flags become the DOCKYARD_* variables dockyard.distribution reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.api.daemon import DaemonError, parse_args, registry_environment
from dockyard.distribution.registries import RegistryConfig


def env_for(argv: list[str], env: dict[str, str] | None = None) -> dict[str, str]:
    return registry_environment(parse_args(argv), env or {})


def test_no_flags_set_nothing() -> None:
    assert env_for([]) == {}


def test_flags_become_variables_the_registry_config_reads(tmp_path: Path) -> None:
    out = env_for(
        [
            "--insecure-registry",
            "10.0.0.0/8",
            "--insecure-registry",
            "http://reg.test:5000",
            "--default-registry",
            "127.0.0.1:5000",
            "--registry-certs",
            str(tmp_path / "certs.d"),
        ]
    )
    assert out == {
        "DOCKYARD_INSECURE_REGISTRIES": "10.0.0.0/8,reg.test:5000",
        "DOCKYARD_DEFAULT_REGISTRY": "127.0.0.1:5000",
        "DOCKYARD_CERTS_D": str(tmp_path / "certs.d"),
    }
    config = RegistryConfig.from_env(out)
    assert config.is_insecure("10.1.2.3:443")
    assert config.is_insecure("reg.test:5000")
    assert not config.is_insecure("192.0.2.1:5000")


def test_insecure_flags_add_to_the_environment() -> None:
    out = env_for(
        ["--insecure-registry", "a.test", "--insecure-registry", "b.test"],
        {"DOCKYARD_INSECURE_REGISTRIES": "b.test, c.test"},
    )
    assert out["DOCKYARD_INSECURE_REGISTRIES"] == "b.test,c.test,a.test"


@pytest.mark.parametrize(
    "argv",
    [
        ["--default-registry", ""],
        ["--default-registry", "host:5000/path"],
        ["--insecure-registry", "a,b"],
    ],
)
def test_bad_values_are_refused(argv: list[str]) -> None:
    with pytest.raises(DaemonError, match="invalid"):
        env_for(argv)
