"""TLS settings per registry, the way Docker reads them from ``certs.d``.

``<certs.d>/<host[:port]>/``: every ``*.crt`` is a CA to trust (besides the system's),
``client.cert`` + ``client.key`` a client certificate. The directories searched are
``$DOCKYARD_CERTS_D`` (colon-separated), else ``/etc/dockyard/certs.d`` and
``/etc/docker/certs.d``. An insecure registry (``--insecure-registry``, loopback) is tried
over TLS without verification first, then plain HTTP, as Docker does.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path

from dockyard.distribution.errors import DistributionError

DEFAULT_CERTS_DIRS = ("/etc/dockyard/certs.d", "/etc/docker/certs.d")


def certs_dirs(env: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    env = os.environ if env is None else env
    raw = env.get("DOCKYARD_CERTS_D")
    parts = raw.split(":") if raw else list(DEFAULT_CERTS_DIRS)
    return tuple(Path(p) for p in parts if p)


def context_for(host: str, dirs: Sequence[Path], *, verify: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    for base in dirs:
        d = base / host  # Docker keeps the port in the directory name (host:5000)
        if not d.is_dir():
            continue
        try:
            for ca in sorted(d.glob("*.crt")):
                ctx.load_verify_locations(cafile=str(ca))
            cert, key = d / "client.cert", d / "client.key"
            if cert.exists() != key.exists():
                raise DistributionError(f"{d}: client.cert and client.key must come together")
            if cert.exists():
                ctx.load_cert_chain(str(cert), str(key))
        except (ssl.SSLError, OSError) as e:
            raise DistributionError(f"{d}: cannot load TLS files: {e}") from None
    return ctx
