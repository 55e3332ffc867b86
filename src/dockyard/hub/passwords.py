"""Password hashing with scrypt, and personal access tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# Interactive-login parameters: ~16 MiB and a few tens of milliseconds per check.
_N, _R, _P, _LEN = 2**14, 8, 1, 32
_MAXMEM = 64 * 1024 * 1024
TOKEN_PREFIX = "dyh_"


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_LEN, maxmem=_MAXMEM)
    return (
        f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"
    )


# Checked when the account does not exist, so that a miss costs as much as a hit.
_DUMMY = hash_password("dummy password", salt=b"\x00" * 16)


def verify_password(password: str, stored: str | None) -> bool:
    """Always runs scrypt once, whether or not there is a stored hash."""
    target = stored if stored else _DUMMY
    try:
        scheme, n, r, p, salt_b64, key_b64 = target.split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        salt, key = base64.b64decode(salt_b64), base64.b64decode(key_b64)
        n_i, r_i, p_i = int(n), int(r), int(p)
    except ValueError:
        target = _DUMMY
        _, n, r, p, salt_b64, key_b64 = target.split("$")
        salt, key = base64.b64decode(salt_b64), base64.b64decode(key_b64)
        n_i, r_i, p_i = int(n), int(r), int(p)
        stored = None
    got = hashlib.scrypt(
        password.encode(), salt=salt, n=n_i, r=r_i, p=p_i, dklen=len(key), maxmem=_MAXMEM
    )
    return hmac.compare_digest(got, key) and bool(stored)


def new_access_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # Access tokens carry 256 random bits, so a fast hash cannot be brute-forced.
    return hashlib.sha256(token.encode()).hexdigest()
