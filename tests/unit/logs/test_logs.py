"""The json-file log driver: format, splitting, rotation, selection and following."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.engine.logs import (
    MAX_LINE,
    LogEntry,
    LogError,
    LogWriter,
    encode_entry,
    follow_logs,
    format_timestamp,
    log_files,
    parse_timestamp,
    read_logs,
    select_entries,
    split_output,
)


class FakeClock:
    def __init__(self, start: int = 1_700_000_000_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1_000_000  # 1 ms per call
        return self.now


def test_timestamp_format_is_rfc3339nano_with_trimmed_zeros() -> None:
    assert format_timestamp(0) == "1970-01-01T00:00:00Z"
    assert format_timestamp(1_500_000_000) == "1970-01-01T00:00:01.5Z"
    assert format_timestamp(1_000_000_001) == "1970-01-01T00:00:01.000000001Z"
    assert format_timestamp(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"


@given(st.integers(min_value=0, max_value=4_000_000_000 * 10**9))
def test_timestamp_roundtrip(ns: int) -> None:
    assert parse_timestamp(format_timestamp(ns)) == ns


def test_parse_timestamp_offsets_and_errors() -> None:
    assert parse_timestamp("2023-11-14T23:13:20.5+01:00") == 1_700_000_000_500_000_000
    assert parse_timestamp("2023-11-14T21:13:20-01:00") == 1_700_000_000_000_000_000
    for bad in ("yesterday", "2023-13-01T00:00:00Z", "2023-11-14 22:13:20Z", ""):
        with pytest.raises(LogError):
            parse_timestamp(bad)


def test_record_is_dockers_json_file_format() -> None:
    raw = encode_entry("stdout", b"hello\n", 1_700_000_000_123_456_789)
    assert raw == (
        b'{"log":"hello\\n","stream":"stdout","time":"2023-11-14T22:13:20.123456789Z"}\n'
    )
    # Invalid UTF-8 becomes U+FFFD; other text is kept as is.
    rec = json.loads(encode_entry("stderr", b"caf\xc3\xa9 \xff\n", 0))
    assert rec["log"] == "café \ufffd\n"
    assert rec["stream"] == "stderr"


def test_split_output_at_newlines_and_16k() -> None:
    lines, rest = split_output(b"", b"a\nbc\nd")
    assert lines == [b"a\n", b"bc\n"]
    assert rest == b"d"
    lines, rest = split_output(rest, b"e\n")
    assert lines == [b"de\n"]
    assert rest == b""
    long = b"x" * (MAX_LINE * 2 + 10) + b"\n"
    lines, rest = split_output(b"", long)
    assert [len(x) for x in lines] == [MAX_LINE, MAX_LINE, 11]
    assert b"".join(lines) == long
    lines, rest = split_output(b"", b"y" * (MAX_LINE - 1))
    assert lines == []
    assert len(rest) == MAX_LINE - 1


def test_writer_keeps_streams_apart_and_flushes_partials(tmp_path: Path) -> None:
    path = str(tmp_path / "c-json.log")
    with LogWriter(path, clock=FakeClock()) as w:
        w.write("stdout", b"out1\nou")
        w.write("stderr", b"err1\n")
        w.write("stdout", b"t2\n")
        w.write("stderr", b"no newline")
    entries = list(read_logs(path))
    assert [(e.stream, e.line) for e in entries] == [
        ("stdout", b"out1\n"),
        ("stderr", b"err1\n"),
        ("stdout", b"out2\n"),
        ("stderr", b"no newline"),
    ]
    times = [e.time_ns for e in entries]
    assert times == sorted(times)


def test_rotation_bounds_files_and_keeps_newest(tmp_path: Path) -> None:
    path = str(tmp_path / "c-json.log")
    w = LogWriter(path, max_size=1000, max_file=3, clock=FakeClock())
    for i in range(200):
        w.write("stdout", f"line {i:04d}\n".encode())
    w.close()
    files = log_files(path)
    assert files == [path + ".2", path + ".1", path]
    assert all(os.path.getsize(f) <= 1000 for f in files)
    got = [e.line.decode() for e in read_logs(path)]
    # The newest lines survive, in order, without gaps.
    assert got[-1] == "line 0199\n"
    numbers = [int(x.split()[1]) for x in got]
    assert numbers == list(range(numbers[0], 200))
    assert numbers[0] > 0  # the oldest were rotated away


def test_rotation_with_one_file_truncates(tmp_path: Path) -> None:
    path = str(tmp_path / "c-json.log")
    w = LogWriter(path, max_size=500, max_file=1, clock=FakeClock())
    for i in range(100):
        w.write("stdout", f"line {i}\n".encode())
    w.close()
    assert log_files(path) == [path]
    assert os.path.getsize(path) <= 500
    assert list(read_logs(path))[-1].line == b"line 99\n"


def test_writer_rejects_max_file_zero(tmp_path: Path) -> None:
    with pytest.raises(LogError):
        LogWriter(str(tmp_path / "x.log"), max_file=0)


def test_tail_since_until(tmp_path: Path) -> None:
    path = str(tmp_path / "c-json.log")
    clock = FakeClock(start=10 * 10**9)
    with LogWriter(path, clock=clock) as w:
        for i in range(10):
            w.write("stdout", f"{i}\n".encode())  # written at 10.001 s, 10.002 s, ...
    assert [e.line for e in read_logs(path, tail=3)] == [b"7\n", b"8\n", b"9\n"]
    assert list(read_logs(path, tail=0)) == []
    assert len(list(read_logs(path, tail=-1))) == 10
    since = [e.line for e in read_logs(path, since=10.005)]
    assert since == [b"4\n", b"5\n", b"6\n", b"7\n", b"8\n", b"9\n"]
    window = [e.line for e in read_logs(path, since=10.002, until=10.004)]
    assert window == [b"1\n", b"2\n", b"3\n"]
    assert [e.line for e in read_logs(path, since=10.002, tail=1)] == [b"9\n"]


def test_select_entries_is_pure() -> None:
    entries = [LogEntry("stdout", f"{i}\n".encode(), i * 10**9) for i in range(5)]
    assert select_entries(iter(entries), tail=2) == entries[3:]
    assert select_entries(iter(entries), since=1, until=3) == entries[1:4]


def test_reader_skips_torn_and_foreign_lines(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    good = encode_entry("stdout", b"ok\n", 5)
    path.write_bytes(b"garbage\n" + good + b'{"log":"torn')
    assert [e.line for e in read_logs(str(path))] == [b"ok\n"]


def test_missing_log_reads_empty(tmp_path: Path) -> None:
    assert list(read_logs(str(tmp_path / "none.log"))) == []


def test_follow_across_rotation_sees_every_line_once(tmp_path: Path) -> None:
    path = str(tmp_path / "c-json.log")
    w = LogWriter(path, max_size=2000, max_file=5)
    w.write("stdout", b"before\n")
    done = threading.Event()

    def produce() -> None:
        for i in range(150):
            w.write("stdout", f"n{i}\n".encode())
            if i % 10 == 0:
                time.sleep(0.01)
        w.close()
        done.set()

    t = threading.Thread(target=produce)
    t.start()
    got = [e.line for e in read_logs(path, follow=True, stop=done.is_set, poll_interval=0.005)]
    t.join()
    assert got[0] == b"before\n"
    assert got[1:] == [f"n{i}\n".encode() for i in range(150)]
    assert len(log_files(path)) > 1  # it really rotated while we followed


def test_follow_stops_after_until(tmp_path: Path) -> None:
    path = str(tmp_path / "c-json.log")
    clock = FakeClock(start=100 * 10**9)
    with LogWriter(path, clock=clock) as w:
        w.write("stdout", b"a\nb\nc\n")
    # Entries after `until` end a follow even without a stop condition.
    got = [e.line for e in read_logs(path, follow=True, until=100.001)]
    assert got == [b"a\n", b"b\n", b"c\n"]  # one clock tick for the whole batch


def test_async_follow(tmp_path: Path) -> None:
    path = str(tmp_path / "c-json.log")
    w = LogWriter(path)
    w.write("stderr", b"first\n")
    state = {"stop": False}

    async def main() -> list[bytes]:
        async def feed() -> None:
            for i in range(5):
                await asyncio.sleep(0.01)
                w.write("stdout", f"x{i}\n".encode())
            w.close()
            state["stop"] = True

        task = asyncio.create_task(feed())
        out = [
            e.line async for e in follow_logs(path, stop=lambda: state["stop"], poll_interval=0.005)
        ]
        await task
        return out

    got = asyncio.run(main())
    assert got == [b"first\n"] + [f"x{i}\n".encode() for i in range(5)]


def test_rotation_within_one_large_write(tmp_path: Path) -> None:
    path = str(tmp_path / "c-json.log")
    w = LogWriter(path, max_size=2000, max_file=3, clock=FakeClock())
    w.write("stdout", b"".join(f"row {i:04d}\n".encode() for i in range(300)))
    w.close()
    files = log_files(path)
    assert len(files) == 3
    assert all(os.path.getsize(f) <= 2000 for f in files)
    assert list(read_logs(path))[-1].line == b"row 0299\n"


def test_tail_reads_backwards_across_rotated_files(tmp_path: Path) -> None:
    path = str(tmp_path / "c-json.log")
    w = LogWriter(path, max_size=3000, max_file=4, clock=FakeClock())
    for i in range(250):
        w.write("stdout" if i % 2 else "stderr", f"entry {i:04d}\n".encode())
    w.write("stdout", b"partial, no newline yet")  # stays pending in the writer
    assert len(log_files(path)) == 4
    everything = list(read_logs(path))
    for n in (1, 5, 40, 120, 10_000):
        assert list(read_logs(path, tail=n)) == everything[-n:]
    # Half a tick after an entry: float seconds do not keep nanoseconds at today's epoch.
    until = (everything[-10].time_ns + 500_000) / 1e9
    assert list(read_logs(path, tail=3, until=until)) == everything[-12:-9]
    w.close()
    assert next(iter(read_logs(path, tail=1))).line == b"partial, no newline yet"


def test_tail_then_follow_sees_each_entry_once(tmp_path: Path) -> None:
    path = str(tmp_path / "c-json.log")
    w = LogWriter(path, max_size=1500, max_file=3)
    for i in range(50):
        w.write("stdout", f"old {i}\n".encode())
    done = threading.Event()

    def produce() -> None:
        for i in range(60):
            w.write("stdout", f"new {i}\n".encode())
            time.sleep(0.001)
        w.close()
        done.set()

    t = threading.Thread(target=produce)
    t.start()
    got = [
        e.line.decode()
        for e in read_logs(path, tail=2, follow=True, stop=done.is_set, poll_interval=0.005)
    ]
    t.join()
    news = [x for x in got if x.startswith("new")]
    assert news == [f"new {i}\n" for i in range(int(news[0].split()[1]), 60)]
    assert len(got) == len(set(got))  # nothing twice
    assert list(read_logs(path, tail=0, follow=False)) == []


@given(
    st.integers(min_value=0, max_value=4_000_000_000 * 10**9),
    st.sampled_from(["Z", "+00:00", "+02:30", "-05:00"]),
)
def test_fast_and_general_timestamp_parsers_agree(ns: int, zone: str) -> None:
    from dockyard.engine.logs import _parse_rfc3339

    text = format_timestamp(ns)
    assert parse_timestamp(text) == _parse_rfc3339(text) == ns
    other = text[:-1] + zone
    assert parse_timestamp(other) == _parse_rfc3339(other)
