"""The event bus behind `GET /events`: a bounded history plus live subscribers."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from dockyard.engine.filters import Filters, match_labels

Event = dict[str, Any]
Subscriber = Callable[[Event], None]

HISTORY = 1024
FILTER_KEYS = ("container", "event", "image", "label", "type", "volume", "scope", "daemon")


def make_event(kind: str, action: str, actor_id: str, attrs: dict[str, str]) -> Event:
    ns = time.time_ns()
    ev: Event = {
        "Type": kind,
        "Action": action,
        "Actor": {"ID": actor_id, "Attributes": dict(attrs)},
        "scope": "local",
        "time": ns // 1_000_000_000,
        "timeNano": ns,
    }
    if kind == "container":
        # The pre-1.22 fields docker-py and old clients still read.
        ev["status"] = action
        ev["id"] = actor_id
        if "image" in attrs:
            ev["from"] = attrs["image"]
    return ev


def matches(ev: Event, f: Filters) -> bool:
    """Docker's event filters: each given key must match; values of one key are OR'ed."""
    actor = ev["Actor"]
    attrs: dict[str, str] = actor["Attributes"]
    for key, vals in f.items():
        if not vals:
            continue
        if key == "type":
            ok = ev["Type"] in vals
        elif key == "event":
            # "exec_start" matches "exec_start: sh -c ..." as Docker does.
            ok = any(ev["Action"] == v or ev["Action"].startswith(v + ":") for v in vals)
        elif key == "container":
            ok = ev["Type"] == "container" and any(
                actor["ID"].startswith(v) or attrs.get("name") == v for v in vals
            )
        elif key == "image":
            ok = any(
                attrs.get("image") == v
                or (ev["Type"] == "image" and actor["ID"] == v)
                or attrs.get("name") == v
                for v in vals
            )
        elif key == "volume":
            ok = ev["Type"] == "volume" and actor["ID"] in vals
        elif key == "label":
            ok = match_labels(attrs, vals)
        elif key == "scope":
            ok = ev["scope"] in vals
        else:
            ok = True
        if not ok:
            return False
    return True


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._history: deque[Event] = deque(maxlen=HISTORY)
        self._subs: set[Subscriber] = set()

    def publish(self, kind: str, action: str, actor_id: str, attrs: dict[str, str]) -> Event:
        ev = make_event(kind, action, actor_id, attrs)
        with self._lock:
            self._history.append(ev)
            subs = list(self._subs)
        for s in subs:
            s(ev)
        return ev

    def subscribe(self, sub: Subscriber, since_ns: int | None) -> list[Event]:
        """Register ``sub``; returns the past events at or after ``since_ns`` (atomically)."""
        with self._lock:
            self._subs.add(sub)
            if since_ns is None:
                return []
            return [e for e in self._history if e["timeNano"] >= since_ns]

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)
