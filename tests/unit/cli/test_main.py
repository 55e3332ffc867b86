"""The entry point without a daemon: version, help, usage errors and exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.cli.main import main

DOCKYARD = str(Path(sys.executable).parent / "dockyard")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("dockyard version ")


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "Management Commands:" in text and "run " in text


def test_command_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    assert "Usage:  dockyard run [OPTIONS] IMAGE [COMMAND] [ARG...]" in text
    assert "-m, --memory bytes" in text


def test_unknown_flag_is_125(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--foo", "busybox"]) == 125
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "unknown flag: --foo"
    assert lines[-1] == "Run 'dockyard run --help' for more information"


def test_missing_arguments_is_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 1
    assert "'dockyard run' requires at least 1 argument" in capsys.readouterr().err


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 1
    assert "unknown command: dockyard frobnicate" in capsys.readouterr().err


def test_no_daemon_is_a_clear_error(tmp_path: Path) -> None:
    env = {
        "DOCKYARD_HOST": f"unix://{tmp_path}/none.sock",
        "DOCKYARD_NO_AUTOSTART": "1",
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run([DOCKYARD, "ps"], capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 1
    assert proc.stderr == (
        f"Cannot connect to the dockyard daemon at unix://{tmp_path}/none.sock."
        " Is the dockyard daemon running?\n"
    )


def test_hot_path_imports_only_stdlib() -> None:
    """run/ps/exec load only the standard library and dockyard.cli's light modules."""
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from dockyard.cli import main, catalog, flags, context, transport, stdio, frames\n"
        "import dockyard.cli.commands.containers\n"
        "new = set(sys.modules) - before\n"
        "bad = sorted(m for m in new if m.split('.')[0] not in sys.stdlib_module_names\n"
        "             and not m.startswith('dockyard.cli') and m != 'dockyard'\n"
        # These dockyard.oci modules are stdlib-only (units imports fractions and re on use).
        "             and m not in ('dockyard.oci', 'dockyard.oci.units',\n"
        "                           'dockyard.oci.streams', 'dockyard.oci.fastjson'))\n"
        # json and re cost ~8 ms of every start (the hot path uses oci.fastjson); socket,
        # signal, enum and selectors ~5 ms (it uses _socket and _signal).
        "heavy = sorted(m for m in new if m.split('.')[0] in ('http', 'email', 'ssl',\n"
        "               'urllib', 'dataclasses', 'typing', 'asyncio', 'tarfile', 'fractions',\n"
        "               'decimal', 'json', 're', 'socket', 'signal', 'enum', 'selectors'))\n"
        "print(','.join(bad + heavy + [m for m in new if m == 'dockyard.cli.template']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert proc.stdout.strip() == ""


def test_group_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["volume"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Usage:  dockyard volume COMMAND\n")
    for sub in ("create", "inspect", "ls", "prune", "rm"):
        assert f"\n  {sub} " in text
    assert main(["container", "--help"]) == 0
    assert "\n  run " in capsys.readouterr().out


def test_no_daemon_on_run_is_125(tmp_path: Path) -> None:
    env = {
        "DOCKYARD_HOST": f"unix://{tmp_path}/none.sock",
        "DOCKYARD_NO_AUTOSTART": "1",
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [DOCKYARD, "run", "busybox"], capture_output=True, text=True, env=env, timeout=30
    )
    assert proc.returncode == 125
    assert proc.stderr.startswith("dockyard: Cannot connect to the dockyard daemon at unix://")


def test_local_io_errors_are_one_line(tmp_path: Path) -> None:
    env = {
        "DOCKYARD_HOST": f"unix://{tmp_path}/none.sock",
        "DOCKYARD_NO_AUTOSTART": "1",
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [DOCKYARD, "run", "--env-file", str(tmp_path / "missing"), "busybox"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert proc.returncode == 125
    assert "Traceback" not in proc.stderr
    assert "missing: no such file or directory" in proc.stderr
