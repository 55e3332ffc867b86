from __future__ import annotations

import hashlib

import pytest

from dockyard.hub import passwords


def test_hash_and_verify() -> None:
    h = passwords.hash_password("correct horse")
    assert passwords.verify_password("correct horse", h)
    assert not passwords.verify_password("wrong horse", h)
    assert h != passwords.hash_password("correct horse")  # salted


def test_scrypt_runs_even_without_an_account(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = hashlib.scrypt

    def counting(*a: object, **kw: object) -> bytes:
        calls.append(1)
        return real(*a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(hashlib, "scrypt", counting)
    assert not passwords.verify_password("x", None)
    assert not passwords.verify_password("x", "garbage$stored")
    assert len(calls) == 2


def test_access_tokens_are_random_and_hashed() -> None:
    a, b = passwords.new_access_token(), passwords.new_access_token()
    assert a != b and a.startswith(passwords.TOKEN_PREFIX)
    assert passwords.token_hash(a) != a and len(passwords.token_hash(a)) == 64
