"""Settings of a hub: defaults, a TOML file (`--config`), then command-line flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dockyard.hub.errors import ConfigError

DEFAULT_DATA = "/var/lib/dockyard-hub"


@dataclass(frozen=True)
class Config:
    data: Path = field(
        default_factory=lambda: Path(os.environ.get("DOCKYARD_HUB_DATA") or DEFAULT_DATA)
    )
    listen: str = "127.0.0.1:5000"
    service: str = "dockyard-hub"
    issuer: str = "dockyard-hub"
    # Absolute token endpoint; derived from the request's Host when empty.
    realm: str = ""
    token_ttl: int = 300
    tls_cert: str = ""
    tls_key: str = ""
    upload_ttl: int = 24 * 3600
    gc_interval: int = 3600  # seconds between online collections; 0 disables them
    gc_grace: int = 3600  # blobs younger than this are never collected
    # Failed logins per client address: a burst, refilled at this many per minute.
    login_burst: int = 10
    login_per_minute: int = 10
    max_page: int = 1000
    default_private: bool = False
    signup: bool = True

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"invalid listen address: {self.listen!r} (want HOST:PORT)")
        return host.strip("[]"), int(port)


def load(path: str | None, overrides: dict[str, Any]) -> Config:
    values: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as f:
                values = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"cannot read config {path}: {e}") from e
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name: f for f in fields(Config)}
    cfg = Config()
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown config key: {key}")
        default = getattr(cfg, key)
        try:
            if isinstance(default, Path):
                value = Path(value)
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    raise TypeError(key)
            elif isinstance(default, int):
                value = int(value)
            elif isinstance(default, str):
                value = str(value)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"invalid value for {key}: {value!r}") from e
        cfg = replace(cfg, **{key: value})
    cfg.host_port  # noqa: B018 - validates listen early
    return cfg
