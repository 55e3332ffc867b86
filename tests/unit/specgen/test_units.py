"""Docker's size and CPU units."""

from __future__ import annotations

import pytest

from dockyard.oci.units import (
    UnitsError,
    format_bytes,
    from_human_size,
    parse_cpus,
    parse_memory_swap,
    ram_in_bytes,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12m", 12 * 1024 * 1024),
        ("1g", 1 << 30),
        ("1G", 1 << 30),
        ("512k", 512 * 1024),
        ("512kb", 512 * 1024),
        ("1.5g", 3 << 29),
        ("100", 100),
        ("2MiB", 2 << 20),
        ("1t", 1 << 40),
    ],
)
def test_ram_in_bytes(text: str, value: int) -> None:
    assert ram_in_bytes(text) == value


@pytest.mark.parametrize("text", ["12q", "", "m", "-1", "1.2.3m", "12 mb extra"])
def test_invalid_sizes_use_dockers_message(text: str) -> None:
    with pytest.raises(UnitsError) as e:
        ram_in_bytes(text)
    assert str(e.value) == f"invalid size: '{text.strip()}'"


def test_decimal_sizes_and_swap() -> None:
    assert from_human_size("1kB") == 1000
    assert from_human_size("2.5MB") == 2_500_000
    assert parse_memory_swap("-1") == -1
    assert parse_memory_swap("1g") == 1 << 30


def test_cpus() -> None:
    assert parse_cpus("1.5") == 1_500_000_000
    assert parse_cpus("0.01") == 10_000_000
    assert parse_cpus("2") == 2_000_000_000
    with pytest.raises(UnitsError, match="failed to parse x as a rational number"):
        parse_cpus("x")
    with pytest.raises(UnitsError, match="too precise"):
        parse_cpus("0.0000000001")


def test_format_bytes() -> None:
    assert format_bytes(0) == "0B"
    assert format_bytes(1500000) == "1.5MB"
    assert format_bytes(1234567890) == "1.235GB"


def test_cpuset_lists() -> None:
    from dockyard.oci.units import parse_cpuset

    assert parse_cpuset("0-2,5") == {0, 1, 2, 5}
    assert parse_cpuset("3") == {3}
    assert parse_cpuset(" 0-1\n") == {0, 1}
    for bad in ("", "a", "1-", "-1", "2-1", "1,,2", "0-99999999"):
        with pytest.raises(UnitsError, match="invalid format"):
            parse_cpuset(bad)
