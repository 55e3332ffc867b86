"""Names, filters, restart policies, status text and events: the engine's pure pieces."""

from __future__ import annotations

import random

import pytest

from dockyard.engine import events, filters, names, restart
from dockyard.engine.errors import InvalidParameter
from dockyard.engine.inspect import human_duration, status_text
from dockyard.engine.records import Container, State, now_rfc3339, parse_rfc3339


def test_generated_names_are_valid_and_vary() -> None:
    rng = random.Random(4)
    got = {names.generate(rng) for _ in range(50)}
    assert len(got) > 40
    for n in got:
        assert names.validate(n) == "/" + n
        assert n != "boring_wozniak"


@pytest.mark.parametrize("bad", ["", "a", "-x", "a b", "x/y"])
def test_invalid_names(bad: str) -> None:
    with pytest.raises(InvalidParameter, match="Invalid container name"):
        names.validate(bad)


def test_filters_accept_both_json_shapes() -> None:
    assert filters.parse('{"status": ["running"]}', ["status"]) == {"status": ["running"]}
    assert filters.parse('{"status": {"exited": true}}', ["status"]) == {"status": ["exited"]}
    with pytest.raises(InvalidParameter, match="Invalid filter 'bogus'"):
        filters.parse('{"bogus": ["x"]}', ["status"])
    with pytest.raises(InvalidParameter):
        filters.parse("{not json", ["status"])


def test_yes_no_filters_as_dockerd_reads_them() -> None:
    assert filters.boolean({}, "dangling") is None
    assert filters.boolean({"dangling": ["true"]}, "dangling") is True
    assert filters.boolean({"dangling": ["1", "true"]}, "dangling") is True
    assert filters.boolean({"dangling": ["0"]}, "dangling") is False
    for bad in (["maybe"], ["true", "false"], ["TRUE"], []):
        with pytest.raises(InvalidParameter, match=r"^Invalid filter 'dangling=\["):
            filters.boolean({"dangling": bad}, "dangling")


def test_label_matching() -> None:
    labels = {"a": "1", "b": "2"}
    assert filters.match_labels(labels, ["a", "b=2"])
    assert not filters.match_labels(labels, ["a=2"])
    assert not filters.match_labels(labels, ["c"])
    assert filters.match_labels(labels, ["a!=3"])


def test_restart_policy_rules() -> None:
    p = restart.Policy("on-failure", 2)
    assert restart.should_restart(p, 1, 0, False)
    assert restart.should_restart(p, 1, 1, False)
    assert not restart.should_restart(p, 1, 2, False)
    assert not restart.should_restart(p, 0, 0, False)
    always = restart.Policy("always")
    assert restart.should_restart(always, 0, 100, False)
    assert not restart.should_restart(always, 0, 0, True)
    assert not restart.should_restart(restart.Policy("no"), 1, 0, False)


def test_backoff_doubles_and_resets() -> None:
    d = restart.next_delay(0, 0.5)
    assert d == restart.BACKOFF_START
    d2 = restart.next_delay(d, 0.5)
    assert d2 == 2 * d
    assert restart.next_delay(d2, 11) == restart.BACKOFF_START
    assert restart.next_delay(50, 1) == restart.BACKOFF_MAX


def test_policy_validation() -> None:
    with pytest.raises(InvalidParameter):
        restart.Policy.from_host_config({"RestartPolicy": {"Name": "sometimes"}})
    with pytest.raises(InvalidParameter):
        restart.Policy.from_host_config(
            {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}}
        )


def test_human_duration() -> None:
    assert human_duration(0.2) == "Less than a second"
    assert human_duration(5) == "5 seconds"
    assert human_duration(90) == "About a minute"
    assert human_duration(600) == "10 minutes"
    assert human_duration(3600 * 5) == "5 hours"
    # go-units rounds half-hours up (int(h + 0.5)); Python's round() would give "2 hours".
    assert human_duration(9000) == "3 hours"


def _container(status: str, code: int = 0) -> Container:
    now = now_rfc3339()
    return Container(
        id="a" * 64,
        name="/x",
        created=now,
        image_id="sha256:" + "b" * 64,
        image_ref="bb",
        path="sh",
        args=[],
        config={},
        host_config={},
        state=State(status=status, exit_code=code, started_at=now, finished_at=now),
    )


def test_status_text() -> None:
    assert status_text(_container("created")) == "Created"
    assert status_text(_container("running")).startswith("Up ")
    assert status_text(_container("exited", 3)).startswith("Exited (3) ")
    assert status_text(_container("paused")).endswith("(Paused)")


def test_rfc3339_roundtrip() -> None:
    t = now_rfc3339()
    assert t.endswith("Z") and len(t) == 30
    assert abs(parse_rfc3339(t) - __import__("time").time()) < 5
    assert parse_rfc3339("0001-01-01T00:00:00Z") == 0.0


def test_event_filters() -> None:
    e = events.make_event("container", "start", "abc123", {"name": "web", "image": "bb"})
    assert e["status"] == "start" and e["id"] == "abc123" and e["from"] == "bb"
    assert events.matches(e, {"type": ["container"], "event": ["start", "die"]})
    assert events.matches(e, {"container": ["web"]})
    assert events.matches(e, {"container": ["abc"]})
    assert not events.matches(e, {"type": ["image"]})
    assert not events.matches(e, {"event": ["stop"]})
    ex = events.make_event("container", "exec_start: sh -c x", "abc", {})
    assert events.matches(ex, {"event": ["exec_start"]})


def test_event_bus_history_and_subscribers() -> None:
    bus = events.EventBus()
    first = bus.publish("volume", "create", "v1", {"driver": "local"})
    got: list[dict[str, object]] = []
    past = bus.subscribe(got.append, first["timeNano"])
    assert [p["Actor"]["ID"] for p in past] == ["v1"]
    bus.publish("volume", "destroy", "v1", {})
    assert [g["Action"] for g in got] == ["destroy"]
    bus.unsubscribe(got.append)
    bus.publish("volume", "create", "v2", {})
    assert len(got) == 1
