"""Tables (Go tabwriter), --format with `table`, human sizes and durations."""

from __future__ import annotations

import pytest

from dockyard.cli.table import prepare_format, render_rows, simple_table, tabwrite
from dockyard.cli.units import (
    bytes_size,
    container_status,
    ellipsis,
    human_duration,
    human_size,
    nano_cpus,
    ram_in_bytes,
    truncate_id,
)


def test_tabwriter_matches_docker_ps_layout() -> None:
    text = "CONTAINER ID\tIMAGE\tPORTS\tNAMES\ndba053de0d45\tbusybox\t\tc1\n"
    assert tabwrite(text) == (
        "CONTAINER ID   IMAGE     PORTS     NAMES\ndba053de0d45   busybox             c1\n"
    )


def test_tabwriter_min_width_20_for_top() -> None:
    assert simple_table(["UID", "CMD"], [["root", "sleep 1"]], minwidth=20) == (
        "UID                 CMD\nroot                sleep 1\n"
    )


def test_table_format_prints_headers_and_escapes() -> None:
    rows = [{"ID": "abc", "Image": "busybox"}, {"ID": "defghijklmnop", "Image": "x"}]
    out = render_rows("table {{.ID}}\\t{{.Image}}", rows, {"ID": "CONTAINER ID", "Image": "IMAGE"})
    assert out == ("CONTAINER ID    IMAGE\nabc             busybox\ndefghijklmnop   x\n")


def test_table_header_is_printed_without_rows() -> None:
    out = render_rows("table {{.ID}}", [], {"ID": "CONTAINER ID"})
    assert out == "CONTAINER ID\n"


def test_plain_format_has_no_header() -> None:
    assert render_rows("{{.ID}}", [{"ID": "a"}, {"ID": "b"}], {"ID": "X"}) == "a\nb\n"
    assert render_rows("{{.ID}}", [], {"ID": "X"}) == ""


def test_prepare_format() -> None:
    assert prepare_format("table {{.A}}\\t{{.B}}") == (True, "{{.A}}\t{{.B}}")
    assert prepare_format("{{.A}}\\n") == (False, "{{.A}}\n")


@pytest.mark.parametrize(
    ("size", "precision", "text"),
    [
        (0, 4, "0B"),
        (999, 4, "999B"),
        (1000, 4, "1kB"),
        (1_240_000, 4, "1.24MB"),
        (1_984_000, 4, "1.984MB"),
        (1_984_000, 3, "1.98MB"),
        (5_000_000_000, 3, "5GB"),
    ],
)
def test_human_size(size: int, precision: int, text: str) -> None:
    assert human_size(size, precision) == text


def test_bytes_size() -> None:
    assert bytes_size(634880) == "620KiB"
    assert bytes_size(25_275_000_000) == "23.54GiB"
    assert bytes_size(0) == "0B"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4, "Less than a second"),
        (1, "1 second"),
        (3, "3 seconds"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (150, "2 minutes"),
        (3600, "About an hour"),
        (3 * 3600, "3 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_container_status_lines() -> None:
    assert container_status(True, False, False, 0, 3, True) == "Up 3 seconds"
    assert container_status(True, True, False, 0, 3, True) == "Up 3 seconds (Paused)"
    assert container_status(False, False, False, 0, 120, True) == "Exited (0) 2 minutes ago"
    assert container_status(False, False, False, 0, 0, False) == "Created"


def test_size_parsing() -> None:
    assert ram_in_bytes("64m") == 64 << 20
    assert ram_in_bytes("1.5g") == 3 << 29
    assert ram_in_bytes("512") == 512
    assert ram_in_bytes("10KiB") == 10 << 10
    with pytest.raises(ValueError, match="invalid size: '12q'"):
        ram_in_bytes("12q")
    assert nano_cpus("0.5") == 500_000_000
    with pytest.raises(ValueError, match="rational"):
        nano_cpus("abc")


def test_ellipsis_and_ids() -> None:
    assert ellipsis("sh -c 'echo out; echo err'", 20) == "sh -c 'echo out; ec…"
    assert ellipsis("short", 20) == "short"
    assert truncate_id("sha256:" + "a" * 64) == "a" * 12


def test_simple_formats_skip_the_template_engine() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from dockyard.cli.table import render_rows\n"
        "out = render_rows('table {{.ID}}\\t{{ .Image }}', [{'ID': 'a', 'Image': 'b'}],"
        " {'ID': 'CONTAINER ID', 'Image': 'IMAGE'})\n"
        "assert out == 'CONTAINER ID   IMAGE\\na              b\\n', repr(out)\n"
        "print('dockyard.cli.template' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert proc.stdout.strip() == "False"


def test_simple_fields_parsing() -> None:
    from dockyard.cli.table import simple_fields

    assert simple_fields("{{.A}}-{{ .B }}!") == [("", "A"), ("-", "B"), ("!", "")]
    assert simple_fields("{{json .}}") is None
    assert simple_fields("{{.A.B}}") is None
    assert simple_fields("plain") == [("plain", "")]


def test_table_header_for_method_fields() -> None:
    rows = [{"Names": "web", "Label": lambda key: {"app": "shop"}.get(key, "")}]
    out = render_rows(
        'table {{.Names}}\\t{{.Label "app"}}', rows, {"Names": "NAMES", "Label": "LABEL"}
    )
    assert out == "NAMES     app\nweb       shop\n"


def test_image_rows_use_familiar_names() -> None:
    from dockyard.cli.commands.images import familiar_name, image_rows

    assert familiar_name("docker.io/library/busybox") == "busybox"
    assert familiar_name("docker.io/alice/app") == "alice/app"
    assert familiar_name("127.0.0.1:5000/x") == "127.0.0.1:5000/x"
    rows = image_rows(
        [
            {
                "Id": "sha256:" + "ab" * 32,
                "RepoTags": ["docker.io/library/busybox:1", "a/b:2"],
                "Created": 0,
                "Size": 1_984_000,
            },
            {"Id": "sha256:" + "cd" * 32, "RepoTags": None, "Created": 0, "Size": 0},
        ],
        trunc=True,
        now=10.0,
    )
    assert [(r["Repository"], r["Tag"], r["ID"], r["Size"]) for r in rows] == [
        ("busybox", "1", "ab" * 6, "1.98MB"),
        ("a/b", "2", "ab" * 6, "1.98MB"),
        ("<none>", "<none>", "cd" * 6, "0B"),
    ]
    assert rows[0]["CreatedSince"] == "10 seconds ago"


def test_ps_row_matches_docker_columns() -> None:
    from dockyard.cli.commands.containers import ps_row

    c = {
        "Id": "dba053de0d458ffedb261053e9b9913802ac4b9030a4cd46ed1388b3a67fafda",
        "Names": ["/c1"],
        "Image": "docker.io/library/busybox:latest",
        "ImageID": "sha256:" + "f" * 64,
        "Command": "sh -c 'echo out; echo err >&2; sleep 100'",
        "Created": 100,
        "Ports": [
            {"PrivatePort": 80, "Type": "tcp"},
            {"IP": "0.0.0.0", "PrivatePort": 53, "PublicPort": 5353, "Type": "udp"},
        ],
        "Labels": {"b": "2", "a": "1"},
        "State": "running",
        "Status": "Up 3 seconds",
        "SizeRw": 3,
        "SizeRootFs": 1_984_000,
        "Mounts": [{"Type": "volume", "Name": "averyveryverylongvolumename"}],
        "NetworkSettings": {"Networks": {"none": {}}},
    }
    row = ps_row(c, trunc=True, now=163.0)
    assert row["ID"] == "dba053de0d45"
    assert row["Command"] == '"sh -c \'echo out; ec…"'
    assert row["Image"] == "busybox:latest"
    assert row["Names"] == "c1"
    assert row["RunningFor"] == "About a minute ago"
    assert row["Ports"] == "0.0.0.0:5353->53/udp, 80/tcp"
    assert row["Labels"] == "a=1,b=2"
    assert row["Size"] == "3B (virtual 1.98MB)"
    assert row["Mounts"] == "averyveryveryl…"
    assert row["LocalVolumes"] == "1"
    assert row["Networks"] == "none"
    assert row["Label"]("a") == "1"
    full = ps_row(c, trunc=False, now=163.0)
    assert full["ID"] == c["Id"]
    assert full["Command"] == "\"sh -c 'echo out; echo err >&2; sleep 100'\""
