"""The web UI rendered by a real browser (headless Chromium), without JavaScript."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import hubtools as ht
import pytest
from hubtools import USERS, client
from test_web import Browser

pytestmark = pytest.mark.root


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
            capture_output=True,
            timeout=240,
            check=False,
        )
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("chromium is not installed and could not be installed")
    return found


def run_chromium(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--window-size=1280,900",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_pages_in_headless_chromium(hub: ht.HubProcess, tmp_path: Path) -> None:
    exe = chromium()
    client(hub, "root").push_image("busybox", "latest", ht.busybox_layer())
    client(hub, "alice").push_image("alice/web", "v1")
    web = Browser(hub.url)
    web.login("root", USERS["root"])
    page = web.get("/r/busybox").body.decode()
    r = web.post(
        "/r/busybox/settings",
        {
            "csrf": web.csrf(page),
            "description": "The Swiss Army knife of embedded Linux",
            "readme": "# busybox\n\nRun `busybox --list` to see the applets.",
        },
    )
    assert r.status == 303

    profile = tmp_path / "profile"
    dom = run_chromium(exe, profile, "--dump-dom", hub.url + "/")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Official images" in dom.stdout
    assert 'href="/r/busybox"' in dom.stdout and "Swiss Army knife" in dom.stdout
    assert 'href="/r/alice/web"' in dom.stdout

    dom = run_chromium(exe, profile, "--dump-dom", hub.url + "/r/busybox")
    assert f"docker pull {hub.host}/busybox" in dom.stdout
    assert "linux/amd64" in dom.stdout and "busybox --list" in dom.stdout

    dom = run_chromium(exe, profile, "--dump-dom", hub.url + "/search?q=web")
    assert 'href="/r/alice/web"' in dom.stdout and 'href="/r/busybox"' not in dom.stdout

    dom = run_chromium(exe, profile, "--dump-dom", hub.url + "/login")
    assert 'name="csrf"' in dom.stdout and 'type="password"' in dom.stdout
    # --dump-dom needs scripting in the browser; the pages themselves carry none.
    assert "<script" not in dom.stdout

    for name, path in (("home", "/"), ("repo", "/r/busybox")):
        shot = tmp_path / f"{name}.png"
        r2 = run_chromium(exe, profile, f"--screenshot={shot}", hub.url + path)
        assert r2.returncode == 0, r2.stderr[-2000:]
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
