from __future__ import annotations

import pytest

from dockyard.runtime.args import parse
from dockyard.runtime.errors import UsageError

SPEC = {"bundle": "str", "detach": "bool", "env": "list", "preserve-fds": "int"}


def test_forms_runc_accepts() -> None:
    p = parse(
        ["--bundle", "/b", "-detach", "--env=A=1", "-env", "B=2", "--preserve-fds=3", "id"], SPEC
    )
    assert p.get_str("bundle") == "/b"
    assert p.get_bool("detach") is True
    assert p.get_list("env") == ["A=1", "B=2"]
    assert p.get_int("preserve-fds") == 3
    assert p.args == ["id"]


def test_stops_at_first_positional() -> None:
    p = parse(["id", "sh", "-c", "--bundle"], SPEC)
    assert p.args == ["id", "sh", "-c", "--bundle"]
    assert "bundle" not in p.opts


def test_bool_values_and_double_dash() -> None:
    assert parse(["--detach=false"], SPEC).get_bool("detach") is False
    assert parse(["--", "--detach"], SPEC).args == ["--detach"]


def test_aliases() -> None:
    assert parse(["-b", "x", "id"], SPEC, {"b": "bundle"}).get_str("bundle") == "x"


@pytest.mark.parametrize(
    ("argv", "msg"),
    [
        (["--nope"], "--nope"),
        (["--bundle"], "needs an argument"),
        (["--preserve-fds", "x"], "invalid value"),
        (["--detach=maybe"], "invalid boolean"),
    ],
)
def test_errors(argv: list[str], msg: str) -> None:
    with pytest.raises(UsageError, match=msg):
        parse(argv, SPEC)
