"""The fast `dockyard-runc` launcher: what it writes and that the written script runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.runtime import launcher


def test_launcher_text_runs_isolated_without_site() -> None:
    text = launcher.launcher_text("/v/bin/python3.11", "/w/src")
    first, *rest = text.splitlines()
    assert first == "#!/v/bin/python3.11 -IS"
    assert "sys.path.append('/w/src')" in rest
    assert rest[-1] == "entry()"


@pytest.mark.parametrize("bad", ["relative/python", "/with space/python", "/quote'/python"])
def test_launcher_text_refuses_unusable_paths(bad: str) -> None:
    with pytest.raises(ValueError, match="unusable"):
        launcher.launcher_text(bad, "/w/src")


def test_install_writes_a_working_launcher_idempotently(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    ver = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    (bindir / ver).symlink_to(os.path.realpath(sys.executable))
    target = Path(launcher.install(str(tmp_path), python=str(bindir / ver)))
    assert target == bindir / "dockyard-runc"
    assert target.read_text().startswith(f"#!{bindir / ver} -IS\n")
    assert os.access(target, os.X_OK)
    first = target.stat().st_mtime_ns
    launcher.install(str(tmp_path), python=str(bindir / ver))
    assert target.stat().st_mtime_ns == first  # unchanged content is not rewritten
    out = subprocess.run([str(target), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("dockyard-runc version")
    # entry() ends with os._exit: the exit status and stderr must still get out.
    bad = subprocess.run([str(target), "no-such-verb"], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "unknown command 'no-such-verb'" in bad.stderr


def test_default_interpreter_is_the_systems_same_version_or_the_venvs(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    ver = f"{sys.version_info[0]}.{sys.version_info[1]}"
    (bindir / f"python{ver}").symlink_to(os.path.realpath(sys.executable))
    chosen = launcher.pick_python(str(tmp_path))
    assert chosen in (f"/usr/bin/python{ver}", str(bindir / f"python{ver}"))
    out = subprocess.run(
        [chosen, "-IS", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == ver


def test_the_cli_launcher_runs_the_cli(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    target = Path(launcher.install(str(tmp_path), python=sys.executable, program="dockyard"))
    assert target == bindir / "dockyard"
    assert "from dockyard.cli.main import entry" in target.read_text()
    out = subprocess.run([str(target), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("dockyard version")
    # Usage errors keep Docker's exit code through entry()'s os._exit.
    bad = subprocess.run([str(target), "--no-such-flag"], capture_output=True, text=True)
    assert bad.returncode == 125 and "unknown flag: --no-such-flag" in bad.stderr


def test_runs_this_package_only_for_our_own_launcher(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    mine = Path(launcher.install(str(tmp_path), python=sys.executable))
    assert launcher.runs_this_package(str(mine))
    other = tmp_path / "other-runc"
    other.write_text(launcher.launcher_text(sys.executable, "/elsewhere/src"))
    assert not launcher.runs_this_package(str(other))  # another checkout's code
    cli = Path(launcher.install(str(tmp_path), python=sys.executable, program="dockyard"))
    assert not launcher.runs_this_package(str(cli))
    assert not launcher.runs_this_package("/bin/true")
    assert not launcher.runs_this_package(str(tmp_path / "missing"))
