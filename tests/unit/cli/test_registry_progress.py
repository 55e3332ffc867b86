"""The progress renderer against byte streams the docker 28.2 client wrote for the same
recorded message stream (captured through a pty, `stty -onlcr`, from a socket that replayed
these messages to `docker pull`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dockyard.cli.progress import ProgressRenderer, StreamError, go_duration, progress_text

TWO_LAYERS: list[dict[str, Any]] = [
    {"status": "Pulling from alice/app", "id": "2"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "aaaaaaaaaaaa"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "bbbbbbbbbbbb"},
    {"status": "Waiting", "progressDetail": {}, "id": "bbbbbbbbbbbb"},
    {
        "status": "Downloading",
        "progressDetail": {"current": 1200000, "total": 3400000},
        "progress": "x",
        "id": "aaaaaaaaaaaa",
    },
    {
        "status": "Downloading",
        "progressDetail": {"current": 500, "total": 1000},
        "id": "bbbbbbbbbbbb",
    },
    {
        "status": "Downloading",
        "progressDetail": {"current": 3400000, "total": 3400000},
        "id": "aaaaaaaaaaaa",
    },
    {"status": "Download complete", "progressDetail": {}, "id": "aaaaaaaaaaaa"},
    {
        "status": "Extracting",
        "progressDetail": {"current": 65536, "total": 3400000},
        "id": "aaaaaaaaaaaa",
    },
    {"status": "Pull complete", "progressDetail": {}, "id": "aaaaaaaaaaaa"},
    {"status": "Download complete", "progressDetail": {}, "id": "bbbbbbbbbbbb"},
    {"status": "Pull complete", "progressDetail": {}, "id": "bbbbbbbbbbbb"},
    {"status": "Digest: sha256:" + "1" * 64},
    {"status": "Status: Downloaded newer image for 127.0.0.1:5000/alice/app:2"},
]

DOCKER_TTY_150 = (
    "2: Pulling from alice/app\n\n\x1b[1A\x1b[2K\raaaaaaaaaaaa: Pulling fs layer \r\x1b[1B\n"
    "\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Pulling fs layer \r\x1b[1B\x1b[1A\x1b[2K\rbbbbbbbbbbbb: "
    "Waiting \r\x1b[1B\x1b[2A\x1b[2K\raaaaaaaaaaaa: Downloading [=================>          "
    "                       ]    1.2MB/3.4MB\r\x1b[2B\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Downloading "
    "[=========================>                         ]     500B/1kB\r\x1b[1B\x1b[2A\x1b[2K\r"
    "aaaaaaaaaaaa: Downloading [==================================================>]    3.4MB/3.4MB"
    "\r\x1b[2B\x1b[2A\x1b[2K\raaaaaaaaaaaa: Download complete \r\x1b[2B\x1b[2A\x1b[2K\r"
    "aaaaaaaaaaaa: "
    "Extracting [>                                                  ]  65.54kB/3.4MB\r\x1b[2B"
    "\x1b[2A\x1b[2K\raaaaaaaaaaaa: Pull complete \r\x1b[2B\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Download "
    "complete \r\x1b[1B\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Pull complete \r\x1b[1BDigest: sha256:"
    + "1" * 64
    + "\nStatus: Downloaded newer image for 127.0.0.1:5000/alice/app:2\n"
)

DOCKER_TTY_80 = (
    "2: Pulling from alice/app\n\n\x1b[1A\x1b[2K\raaaaaaaaaaaa: Pulling fs layer \r\x1b[1B\n"
    "\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Pulling fs layer \r\x1b[1B\x1b[1A\x1b[2K\rbbbbbbbbbbbb: "
    "Waiting \r\x1b[1B\x1b[2A\x1b[2K\raaaaaaaaaaaa: Downloading    1.2MB/3.4MB\r\x1b[2B\x1b[1A"
    "\x1b[2K\rbbbbbbbbbbbb: Downloading     500B/1kB\r\x1b[1B\x1b[2A\x1b[2K\raaaaaaaaaaaa: "
    "Downloading    3.4MB/3.4MB\r\x1b[2B\x1b[2A\x1b[2K\raaaaaaaaaaaa: Download complete \r"
    "\x1b[2B\x1b[2A\x1b[2K\raaaaaaaaaaaa: Extracting  65.54kB/3.4MB\r\x1b[2B\x1b[2A\x1b[2K\r"
    "aaaaaaaaaaaa: Pull complete \r\x1b[2B\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Download complete \r"
    "\x1b[1B\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Pull complete \r\x1b[1BDigest: sha256:"
    + "1" * 64
    + "\nStatus: Downloaded newer image for 127.0.0.1:5000/alice/app:2\n"
)

DOCKER_NO_TTY = (
    "2: Pulling from alice/app\n"
    "aaaaaaaaaaaa: Pulling fs layer\n"
    "bbbbbbbbbbbb: Pulling fs layer\n"
    "bbbbbbbbbbbb: Waiting\n"
    "aaaaaaaaaaaa: Download complete\n"
    "aaaaaaaaaaaa: Pull complete\n"
    "bbbbbbbbbbbb: Download complete\n"
    "bbbbbbbbbbbb: Pull complete\n"
    "Digest: sha256:" + "1" * 64 + "\n"
    "Status: Downloaded newer image for 127.0.0.1:5000/alice/app:2\n"
)


def render(messages: list[dict[str, Any]], tty: bool, width: int = 200) -> str:
    r = ProgressRenderer(tty, width)
    # Through JSON, as the messages arrive from the daemon.
    return "".join(r.feed(json.loads(json.dumps(m))) for m in messages)


@pytest.mark.parametrize(
    ("tty", "width", "expected"),
    [(True, 150, DOCKER_TTY_150), (True, 80, DOCKER_TTY_80), (False, 200, DOCKER_NO_TTY)],
    ids=["tty150", "tty80", "pipe"],
)
def test_two_layer_pull_matches_docker(tty: bool, width: int, expected: str) -> None:
    assert render(TWO_LAYERS, tty, width) == expected


def test_push_stream_collects_aux_and_prints_status_lines() -> None:
    stream: list[dict[str, Any]] = [
        {"status": "The push refers to repository [127.0.0.1:5000/alice/bb]"},
        {"status": "Preparing", "progressDetail": {}, "id": "0485470834a3"},
        {"status": "Pushed", "progressDetail": {}, "id": "0485470834a3"},
        {"status": "1: digest: sha256:" + "a" * 64 + " size: 400"},
        {"progressDetail": {}, "aux": {"Tag": "1", "Digest": "sha256:" + "a" * 64, "Size": 400}},
    ]
    r = ProgressRenderer(False)
    out = "".join(r.feed(m) for m in stream)
    assert out == (
        "The push refers to repository [127.0.0.1:5000/alice/bb]\n"
        "0485470834a3: Preparing\n"
        "0485470834a3: Pushed\n"
        "1: digest: sha256:" + "a" * 64 + " size: 400\n"
    )
    assert r.aux == [{"Tag": "1", "Digest": "sha256:" + "a" * 64, "Size": 400}]


def test_non_progress_line_starts_a_new_block_of_layer_lines() -> None:
    r = ProgressRenderer(True)
    r.feed({"status": "Pulling fs layer", "progressDetail": {}, "id": "a"})
    r.feed({"status": "Pulling fs layer", "progressDetail": {}, "id": "b"})
    r.feed({"status": "latest: Pulling from x", "id": "latest"})
    # "a" is new again: a fresh line, then one line up.
    assert r.feed({"status": "Waiting", "progressDetail": {}, "id": "a"}).startswith("\n\x1b[1A")


def test_error_message_raises_with_its_text() -> None:
    r = ProgressRenderer(False)
    with pytest.raises(StreamError, match=r"^blob upload unknown$"):
        r.feed({"errorDetail": {"message": "blob upload unknown"}, "error": "blob upload unknown"})
    with pytest.raises(StreamError, match=r"^authentication is required$"):
        r.feed({"errorDetail": {"code": 401, "message": "no"}, "error": "no"})


def test_stream_text_and_legacy_progress_message() -> None:
    r = ProgressRenderer(False)
    assert r.feed({"stream": "Step 1/2\n"}) == "Step 1/2\n"
    assert r.feed({"status": "Loading", "progress": "12 B", "id": "x"}) == "x: Loading 12 B"


@pytest.mark.parametrize(
    ("detail", "width", "expected"),
    [
        ({}, 200, ""),
        ({"current": 0, "total": 0}, 200, ""),
        ({"current": 1500}, 200, "   1.5kB"),
        ({"current": 7, "units": "items"}, 200, "7 items"),
        ({"current": 3, "total": 10, "units": "items"}, 80, "3/10 items"),
        ({"current": 12, "total": 10, "units": "items"}, 80, "12 items"),
        ({"current": 2000, "total": 1000}, 80, "     2kB"),
        (
            {"current": 5, "total": 10, "hidecounts": True},
            200,
            "[=========================>" + " " * 25 + "] ",
        ),
    ],
)
def test_progress_text(detail: dict[str, object], width: int, expected: str) -> None:
    assert progress_text(detail, width) == expected


def test_progress_text_time_left() -> None:
    # A quarter done in 10 s: 30 s to go.
    text = progress_text({"current": 250, "total": 1000, "start": 1000}, 80, now=1010.0)
    assert text == "    250B/1kB 30s"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0s"), (0.4, "0s"), (45, "45s"), (125, "2m5s"), (3603, "1h0m3s")],
)
def test_go_duration(seconds: float, expected: str) -> None:
    assert go_duration(seconds) == expected
