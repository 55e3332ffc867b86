"""Registry credentials as Docker keeps them, and the X-Registry-Auth header.

``~/.docker/config.json`` (``$DOCKER_CONFIG/config.json`` when set): ``auths.<server>.auth``
is base64("user:password"); Docker Hub's key is ``https://index.docker.io/v1/``, other
registries are keyed by host[:port]. The file is written atomically with mode 0600 and every
other key in it (credsStore, proxies, …) is kept. Standard library only: the CLI uses this.

X-Registry-Auth, which docker clients send to ``/images/create`` and ``/images/{name}/push``,
is base64url(JSON {"username", "password", "serveraddress", "identitytoken"?}).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.distribution.errors import InvalidAuthConfig
from dockyard.distribution.registries import auth_key

MAX_CONFIG_FILE = 1 << 20
MAX_HEADER = 64 << 10


@dataclass(frozen=True)
class AuthConfig:
    username: str = ""
    password: str = ""
    serveraddress: str = ""
    identitytoken: str = ""

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identitytoken)


def config_path(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    base = env.get("DOCKER_CONFIG")
    if base:
        return Path(base) / "config.json"
    return Path(env.get("HOME") or Path.home()) / ".docker" / "config.json"


def load_config(path: Path | None = None) -> dict[str, Any]:
    p = path or config_path()
    try:
        with open(p, "rb") as f:
            raw = f.read(MAX_CONFIG_FILE + 1)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise InvalidAuthConfig(f"cannot read {p}: {e.strerror}") from None
    if len(raw) > MAX_CONFIG_FILE:
        raise InvalidAuthConfig(f"{p} is larger than {MAX_CONFIG_FILE} bytes")
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise InvalidAuthConfig(f"{p}: not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise InvalidAuthConfig(f"{p}: not a JSON object")
    return data


def save_config(data: dict[str, Any], path: Path | None = None) -> Path:
    """Atomic write, mode 0600, in the file's own directory (created 0700 if missing)."""
    p = path or config_path()
    p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".config.json.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent="\t")
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        with_suppress_unlink(tmp)
        raise
    return p


def with_suppress_unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def store_credentials(server: str, username: str, password: str, path: Path | None = None) -> Path:
    data = load_config(path)
    auths = data.get("auths")
    if not isinstance(auths, dict):
        auths = {}
    raw = f"{username}:{password}".encode()
    entry = auths.get(auth_key(server))
    entry = dict(entry) if isinstance(entry, dict) else {}
    entry.pop("identitytoken", None)
    entry["auth"] = base64.b64encode(raw).decode()
    auths[auth_key(server)] = entry
    data["auths"] = auths
    return save_config(data, path)


def get_credentials(server: str, path: Path | None = None) -> AuthConfig | None:
    """The stored credentials for ``server``, or None."""
    auths = load_config(path).get("auths")
    if not isinstance(auths, dict):
        return None
    key = auth_key(server)
    entry = auths.get(key)
    if entry is None:
        # Older files key by URL (``http://host:5000``); match on the host.
        for k, v in auths.items():
            if isinstance(k, str) and auth_key(k) == key:
                entry = v
                break
    if not isinstance(entry, dict):
        return None
    user, password = "", ""
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidAuthConfig(f"invalid auth entry for {key} in the config file") from None
        if not sep:
            raise InvalidAuthConfig(f"invalid auth entry for {key}: no ':' in user:password")
    token = entry.get("identitytoken")
    return AuthConfig(user, password, key, token if isinstance(token, str) else "")


def erase_credentials(server: str, path: Path | None = None) -> bool:
    """Remove ``server``'s entry; False when there was none (Docker: "Not logged in")."""
    p = path or config_path()
    data = load_config(p)
    auths = data.get("auths")
    if not isinstance(auths, dict):
        return False
    key = auth_key(server)
    doomed = [k for k in auths if isinstance(k, str) and auth_key(k) == key]
    if not doomed:
        return False
    for k in doomed:
        del auths[k]
    save_config(data, p)
    return True


def encode_registry_auth(auth: AuthConfig) -> str:
    obj: dict[str, str] = {
        "username": auth.username,
        "password": auth.password,
        "serveraddress": auth.serveraddress,
    }
    if auth.identitytoken:
        obj["identitytoken"] = auth.identitytoken
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()


def decode_registry_auth(header: str | None) -> AuthConfig | None:
    """Docker's daemon is lenient: an empty or ``{}`` header means anonymous."""
    if not header or not header.strip():
        return None
    if len(header) > MAX_HEADER:
        raise InvalidAuthConfig("X-Registry-Auth header too large")
    text = header.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidAuthConfig("invalid X-Registry-Auth header: not base64url JSON") from None
    if not isinstance(data, dict):
        raise InvalidAuthConfig("invalid X-Registry-Auth header: not a JSON object")

    def field(name: str) -> str:
        v = data.get(name, data.get(name.capitalize(), ""))
        return v if isinstance(v, str) else ""

    auth = AuthConfig(
        field("username"), field("password"), field("serveraddress"), field("identitytoken")
    )
    return None if auth.empty else auth
