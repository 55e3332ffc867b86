"""Which registry a reference names, and how (and whether) we may reach it.

Policy, read from the daemon's environment (or given explicitly):
- ``DOCKYARD_DEFAULT_REGISTRY`` (e.g. ``127.0.0.1:5000``) stands in for ``docker.io``: a
  reference to ``busybox`` is fetched as ``library/busybox`` from there. Without it, a
  ``docker.io`` reference fails at once, with no network attempt: Docker Hub is not reachable
  from the machines dockyard is tested on, and waiting for a timeout helps nobody.
- ``DOCKYARD_INSECURE_REGISTRIES`` (comma-separated hosts, ``host:port`` or CIDRs) may be
  spoken to over plain HTTP, as Docker's ``--insecure-registry``. Loopback always may.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.distribution.errors import RegistryUnreachable
from dockyard.distribution.tls import certs_dirs
from dockyard.oci.reference import DEFAULT_DOMAIN, Reference

DOCKER_HUB_HOSTS = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
# Docker's key for Docker Hub in config.json and in X-Registry-Auth.
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"


def _split_host(host: str) -> tuple[str, int | None]:
    if host.startswith("["):
        end = host.find("]")
        name = host[1:end]
        rest = host[end + 1 :]
        return name, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and name.count(":") == 0:
        return name, int(port)
    return host, None


def is_loopback(host: str) -> bool:
    name, _ = _split_host(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Endpoint:
    """One registry as the client talks to it."""

    host: str  # host[:port], what references and credentials name
    secure: bool  # TLS required and verified; else TLS unverified first, then plain HTTP

    @property
    def base_url(self) -> str:
        """The URL to try first (the client falls back to http for an insecure registry)."""
        return f"https://{self.host}"


@dataclass(frozen=True)
class RegistryConfig:
    default_registry: str = ""
    insecure: Sequence[str] = field(default_factory=tuple)
    certs_dirs: Sequence[Path] = field(default_factory=tuple)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RegistryConfig:
        env = os.environ if env is None else env
        insecure = tuple(
            p.strip() for p in env.get("DOCKYARD_INSECURE_REGISTRIES", "").split(",") if p.strip()
        )
        return cls(env.get("DOCKYARD_DEFAULT_REGISTRY", "").strip(), insecure, certs_dirs(env))

    def is_insecure(self, host: str) -> bool:
        if is_loopback(host):
            return True
        name, _ = _split_host(host)
        for entry in self.insecure:
            if entry in (host, name):
                return True
            if "/" in entry:
                try:
                    net = ipaddress.ip_network(entry, strict=False)
                    if ipaddress.ip_address(name) in net:
                        return True
                except ValueError:
                    continue
        return False

    def registry_host(self, domain: str) -> str:
        """The host to contact for a reference's domain; refuses Docker Hub without a stand-in."""
        if domain in DOCKER_HUB_HOSTS or domain == "":
            if not self.default_registry:
                raise RegistryUnreachable(
                    f"registry {DEFAULT_DOMAIN} is not reachable from this machine; "
                    "set DOCKYARD_DEFAULT_REGISTRY (e.g. 127.0.0.1:5000) to use another "
                    "registry for unqualified names"
                )
            return self.default_registry
        return domain

    def endpoint(self, domain: str) -> Endpoint:
        host = self.registry_host(domain)
        return Endpoint(host, secure=not self.is_insecure(host))

    def endpoint_for(self, ref: Reference) -> Endpoint:
        return self.endpoint(ref.domain)


def auth_key(server: str) -> str:
    """The key credentials are stored under: Docker's legacy URL for Docker Hub, else the host."""
    s = server.strip()
    for prefix in ("https://", "http://"):
        if s.startswith(prefix):
            s = s[len(prefix) :]
    s = s.split("/", 1)[0]
    if s in DOCKER_HUB_HOSTS or s == "":
        return DOCKER_HUB_AUTH_KEY
    return s
