"""Docker's ``--change`` instructions (``docker import``/``docker commit``) applied to a config.

Pure: takes the ``config`` object of an image config and returns a new one.
"""

from __future__ import annotations

import copy
import json
import posixpath
import shlex
from collections.abc import Sequence
from typing import Any

from dockyard.store.errors import InvalidChange

# The instructions Docker accepts in --change; everything else is refused with its message.
ALLOWED = frozenset(
    {
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "HEALTHCHECK",
        "LABEL",
        "ONBUILD",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)
_KNOWN = ALLOWED | {"FROM", "RUN", "COPY", "ADD", "ARG", "SHELL", "MAINTAINER"}


def _json_or_shell(rest: str, shell: Sequence[str]) -> list[str]:
    text = rest.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    return [*shell, text]


def _split_words(rest: str, instruction: str) -> list[str]:
    try:
        return shlex.split(rest, posix=True)
    except ValueError as e:
        raise InvalidChange(f"{instruction}: {e}") from None


def _pairs(rest: str, instruction: str) -> list[tuple[str, str]]:
    words = _split_words(rest, instruction)
    if not words:
        raise InvalidChange(f"{instruction} requires at least one argument")
    if "=" not in words[0]:
        # The legacy form "ENV KEY value with spaces" sets one variable.
        key, _, value = rest.strip().partition(" ")
        if not value.strip() and instruction == "ENV":
            raise InvalidChange(f"{instruction} names can not be blank")
        return [(key, value.strip())]
    out = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidChange(f"{instruction} requires KEY=VALUE pairs, got {word!r}")
        out.append((key, value))
    return out


def _set_env(env: list[str], key: str, value: str) -> list[str]:
    out = [e for e in env if e.partition("=")[0] != key]
    out.append(f"{key}={value}")
    return out


def _ports(words: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for w in words:
        port, _, proto = w.partition("/")
        proto = proto.lower() or "tcp"
        lo, _, hi = port.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()) or proto not in ("tcp", "udp", "sctp"):
            raise InvalidChange(f"invalid port {w!r} in EXPOSE")
        for p in range(int(lo), int(hi or lo) + 1):
            out[f"{p}/{proto}"] = {}
    return out


def apply_change(config: dict[str, Any], change: str) -> dict[str, Any]:
    out = copy.deepcopy(config)
    line = change.strip()
    if not line:
        return out
    word, _, rest = line.partition(" ")
    if "\t" in word:
        word, _, more = word.partition("\t")
        rest = more + " " + rest
    instruction = word.upper()
    if instruction not in _KNOWN:
        raise InvalidChange(f"dockerfile parse error on line 1: unknown instruction: {word}")
    if instruction not in ALLOWED:
        raise InvalidChange(f"{instruction} is not a valid change command")
    rest = rest.strip()
    shell = out.get("Shell") or ["/bin/sh", "-c"]
    if instruction == "CMD":
        out["Cmd"] = _json_or_shell(rest, shell)
    elif instruction == "ENTRYPOINT":
        out["Entrypoint"] = _json_or_shell(rest, shell) if rest else None
    elif instruction == "ENV":
        env = list(out.get("Env") or [])
        for key, value in _pairs(rest, "ENV"):
            env = _set_env(env, key, value)
        out["Env"] = env
    elif instruction == "LABEL":
        labels = dict(out.get("Labels") or {})
        labels.update(_pairs(rest, "LABEL"))
        out["Labels"] = labels
    elif instruction == "EXPOSE":
        ports = dict(out.get("ExposedPorts") or {})
        ports.update(_ports(_split_words(rest, "EXPOSE")))
        out["ExposedPorts"] = ports
    elif instruction == "VOLUME":
        paths = _json_or_shell(rest, []) if rest.startswith("[") else rest.split()
        if not paths:
            raise InvalidChange("VOLUME requires at least one argument")
        volumes = dict(out.get("Volumes") or {})
        volumes.update({p: {} for p in paths})
        out["Volumes"] = volumes
    elif instruction == "WORKDIR":
        if not rest:
            raise InvalidChange("WORKDIR requires exactly one argument")
        current = out.get("WorkingDir") or "/"
        out["WorkingDir"] = posixpath.normpath(posixpath.join(current, rest))
    elif instruction == "USER":
        if not rest:
            raise InvalidChange("USER requires exactly one argument")
        out["User"] = rest
    elif instruction == "STOPSIGNAL":
        if not rest:
            raise InvalidChange("STOPSIGNAL requires exactly one argument")
        out["StopSignal"] = rest
    elif instruction == "ONBUILD":
        if not rest:
            raise InvalidChange("ONBUILD requires at least one argument")
        out["OnBuild"] = [*(out.get("OnBuild") or []), rest]
    elif instruction == "HEALTHCHECK":
        out["Healthcheck"] = _healthcheck(rest, shell)
    return out


def _healthcheck(rest: str, shell: Sequence[str]) -> dict[str, Any]:
    words = rest.split(None, 1)
    if not words:
        raise InvalidChange("HEALTHCHECK requires an argument")
    if words[0].upper() == "NONE":
        return {"Test": ["NONE"]}
    if words[0].upper() != "CMD" or len(words) < 2:
        raise InvalidChange("HEALTHCHECK must be NONE or CMD <command> (options are not supported)")
    text = words[1].strip()
    if text.startswith("["):
        return {"Test": ["CMD", *_json_or_shell(text, shell)]}
    return {"Test": ["CMD-SHELL", text]}


def apply_changes(config: dict[str, Any], changes: Sequence[str]) -> dict[str, Any]:
    out = copy.deepcopy(config)
    for change in changes:
        out = apply_change(out, change)
    return out
