"""`cp` out of a container on the Python that runs the CLI's launcher: Debian 12's 3.11.2
has no tarfile extraction filters, so copying.py checks members by hand there. Those checks
run here under that interpreter, on archives a hostile container could send."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

LAUNCHER = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "dockyard"
SRC = Path(__file__).resolve().parents[3] / "src"

SCRIPT = """
import sys, tarfile
sys.path.insert(0, sys.argv[1])
from dockyard.cli.copying import _extract_legacy
from dockyard.cli.errors import CliError
with open(sys.argv[2], "rb") as f, tarfile.open(fileobj=f, mode="r|") as tar:
    try:
        _extract_legacy(tar, sys.argv[3], "src", "dst", set())
    except CliError as e:
        print(e)
        sys.exit(3)
"""


def _interpreter() -> str:
    first = LAUNCHER.read_text().splitlines()[0] if LAUNCHER.exists() else ""
    if not first.startswith("#!"):
        pytest.skip("the CLI's launcher is not installed")
    python = first[2:].split()[0]
    probe = subprocess.run(
        [python, "-c", "import tarfile, sys; sys.exit(hasattr(tarfile, 'data_filter'))"],
        capture_output=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"{python} has tarfile filters: the legacy path is not used")
    return python


def _tar(tmp: Path, *members: tuple[str, str, bytes]) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, link, data in members:
            ti = tarfile.TarInfo(name)
            if link:
                ti.type = tarfile.SYMTYPE
                ti.linkname = link
                tar.addfile(ti)
            else:
                ti.size = len(data)
                ti.mode = 0o4777
                tar.addfile(ti, io.BytesIO(data))
    out = tmp / "a.tar"
    out.write_bytes(buf.getvalue())
    return out


def _run(python: str, archive: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    dest.mkdir(exist_ok=True)
    return subprocess.run(
        [python, "-I", "-c", SCRIPT, str(SRC), str(archive), str(dest)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_links_kept_and_modes_tamed(tmp_path: Path) -> None:
    python = _interpreter()
    archive = _tar(tmp_path, ("src/f", "", b"data"), ("src/abs", "/etc/passwd", b""))
    got = _run(python, archive, tmp_path / "out")
    assert got.returncode == 0, got.stdout + got.stderr
    f = tmp_path / "out" / "dst" / "f"
    assert f.read_bytes() == b"data"
    assert f.stat().st_mode & 0o7777 == 0o755  # no setuid, no group/other write
    assert str((tmp_path / "out" / "dst" / "abs").readlink()) == "/etc/passwd"


@pytest.mark.parametrize(
    "members",
    [
        [("../escape", "", b"x")],
        [("src/d", "/", b""), ("src/d/planted", "", b"x")],
    ],
)
def test_hostile_archives_are_refused(
    tmp_path: Path, members: list[tuple[str, str, bytes]]
) -> None:
    python = _interpreter()
    got = _run(python, _tar(tmp_path, *members), tmp_path / "out")
    assert got.returncode == 3, got.stdout + got.stderr
    assert "refusing to extract" in got.stdout
    assert not (tmp_path / "escape").exists() and not Path("/planted").exists()
