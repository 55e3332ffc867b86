from __future__ import annotations

import pytest

from dockyard.store.changes import apply_changes
from dockyard.store.errors import InvalidChange


def test_cmd_entrypoint_forms() -> None:
    assert apply_changes({}, ['CMD ["sh"]'])["Cmd"] == ["sh"]
    assert apply_changes({}, ["CMD echo hi"])["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert apply_changes({}, ['ENTRYPOINT ["/bin/app", "-x"]'])["Entrypoint"] == ["/bin/app", "-x"]


def test_env_forms_and_replacement() -> None:
    cfg = apply_changes({"Env": ["A=old", "PATH=/bin"]}, ['ENV A=b C="d e"', "ENV LEGACY x y"])
    assert cfg["Env"] == ["PATH=/bin", "A=b", "C=d e", "LEGACY=x y"]


def test_workdir_user_labels_ports_volumes() -> None:
    cfg = apply_changes(
        {},
        [
            "WORKDIR /x",
            "WORKDIR y",
            "USER 1000:1000",
            'LABEL a=b "c d"=e',
            "EXPOSE 80 53/udp 8000-8001",
            'VOLUME ["/data"]',
            "VOLUME /a /b",
            "STOPSIGNAL SIGINT",
            "ONBUILD RUN true",
        ],
    )
    assert cfg["WorkingDir"] == "/x/y"
    assert cfg["User"] == "1000:1000"
    assert cfg["Labels"] == {"a": "b", "c d": "e"}
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert cfg["Volumes"] == {"/data": {}, "/a": {}, "/b": {}}
    assert cfg["StopSignal"] == "SIGINT"
    assert cfg["OnBuild"] == ["RUN true"]


def test_healthcheck() -> None:
    assert apply_changes({}, ["HEALTHCHECK NONE"])["Healthcheck"] == {"Test": ["NONE"]}
    assert apply_changes({}, ["HEALTHCHECK CMD true"])["Healthcheck"] == {
        "Test": ["CMD-SHELL", "true"]
    }


def test_input_is_not_mutated() -> None:
    base = {"Env": ["A=1"]}
    apply_changes(base, ["ENV A=2"])
    assert base == {"Env": ["A=1"]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("FROM busybox", "FROM is not a valid change command"),
        ("RUN true", "RUN is not a valid change command"),
        ("BOGUS x", "unknown instruction: BOGUS"),
        ("EXPOSE abc", "invalid port"),
        ("WORKDIR", "WORKDIR requires"),
        ("ENV", "ENV requires"),
        ("LABEL =x", "KEY=VALUE"),
    ],
)
def test_refused(change: str, message: str) -> None:
    with pytest.raises(InvalidChange, match=message):
        apply_changes({}, [change])
