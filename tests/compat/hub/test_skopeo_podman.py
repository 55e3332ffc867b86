"""skopeo and podman against a real dockyard-hub on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import hubtools as ht
import pytest
from hubtools import USERS

pytestmark = pytest.mark.compat


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def run(
    *cmd: str, check: bool = True, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        list(cmd),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        input=stdin,
        env={**os.environ, **(env or {})},
    )
    if check:
        assert r.returncode == 0, f"{cmd}: {r.stderr[-3000:]}"
    return r


def creds(user: str) -> str:
    return f"{user}:{USERS[user]}"


def test_skopeo_copy_both_ways_and_inspect(
    hub: ht.HubProcess, oci_layout: tuple[Path, str], tmp_path: Path
) -> None:
    skopeo = need("skopeo")
    layout, digest = oci_layout
    dest = f"docker://{hub.host}/alice/busybox:1.0"
    run(
        skopeo,
        "copy",
        "--dest-creds",
        creds("alice"),
        "--dest-tls-verify=false",
        f"oci:{layout}:latest",
        dest,
    )
    info = json.loads(run(skopeo, "inspect", "--tls-verify=false", dest).stdout)
    assert info["Digest"] == digest and info["RepoTags"] == ["1.0"]
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    raw = run(
        skopeo, "inspect", "--raw", "--creds", creds("bob"), "--tls-verify=false", dest
    ).stdout
    assert ht.sha(raw.encode()) == digest

    out = tmp_path / "pulled"
    run(
        skopeo,
        "copy",
        "--src-creds",
        creds("alice"),
        "--src-tls-verify=false",
        dest,
        f"oci:{out}:copy",
    )
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    for blob in (layout / "blobs" / "sha256").iterdir():
        assert (out / "blobs" / "sha256" / blob.name).read_bytes() == blob.read_bytes()

    # registry to registry, within the hub: cross-repository mount, same digest
    run(
        skopeo,
        "copy",
        "--src-creds",
        creds("alice"),
        "--dest-creds",
        creds("alice"),
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        dest,
        f"docker://{hub.host}/alice/copy:2.0",
    )
    info = json.loads(
        run(skopeo, "inspect", "--tls-verify=false", f"docker://{hub.host}/alice/copy:2.0").stdout
    )
    assert info["Digest"] == digest
    tags = json.loads(
        run(skopeo, "list-tags", "--tls-verify=false", f"docker://{hub.host}/alice/busybox").stdout
    )
    assert tags["Tags"] == ["1.0"]


def test_skopeo_is_refused_where_it_may_not_push(
    hub: ht.HubProcess, oci_layout: tuple[Path, str]
) -> None:
    skopeo = need("skopeo")
    layout, _ = oci_layout
    for user, target in (("bob", "alice/x:1"), ("alice", "busybox:latest")):
        r = run(
            skopeo,
            "copy",
            "--dest-creds",
            creds(user),
            "--dest-tls-verify=false",
            f"oci:{layout}:latest",
            f"docker://{hub.host}/{target}",
            check=False,
        )
        assert r.returncode != 0
        err = r.stderr.lower()
        assert "denied" in err or "403 (forbidden)" in err or "unauthorized" in err, err
    r = run(
        skopeo,
        "copy",
        "--dest-creds",
        "alice:wrong-password",
        "--dest-tls-verify=false",
        f"oci:{layout}:latest",
        f"docker://{hub.host}/alice/x:1",
        check=False,
    )
    assert r.returncode != 0
    # an admin may push the official image, and anyone may pull it by its short name
    run(
        skopeo,
        "copy",
        "--dest-creds",
        creds("root"),
        "--dest-tls-verify=false",
        f"oci:{layout}:latest",
        f"docker://{hub.host}/busybox:latest",
    )
    run(skopeo, "inspect", "--tls-verify=false", f"docker://{hub.host}/library/busybox:latest")


def test_podman_login_push_pull(
    hub: ht.HubProcess, oci_layout: tuple[Path, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    podman = need("podman")
    layout, digest = oci_layout
    auth = tmp_path / "auth.json"
    # podman refuses a runroot longer than 50 characters
    runroot = Path(tempfile.mkdtemp(prefix="dyh-", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(runroot, ignore_errors=True))
    base = [
        podman,
        "--root",
        str(tmp_path / "root"),
        "--runroot",
        str(runroot),
        "--storage-driver",
        "vfs",
    ]
    env = {"REGISTRY_AUTH_FILE": str(auth)}
    r = run(
        *base,
        "login",
        "--tls-verify=false",
        "-u",
        "alice",
        "--password-stdin",
        hub.host,
        env=env,
        stdin=USERS["alice"] + "\n",
    )
    assert "Login Succeeded" in r.stdout
    r = run(
        *base,
        "login",
        "--tls-verify=false",
        "-u",
        "alice",
        "--password-stdin",
        hub.host,
        env=env,
        stdin="wrong-password\n",
        check=False,
    )
    assert r.returncode != 0
    run(*base, "pull", f"oci:{layout}:latest", env=env)
    images = json.loads(run(*base, "images", "--format", "json", env=env).stdout)
    image_id = images[0]["Id"]
    ref = f"{hub.host}/alice/podman:v1"
    run(*base, "tag", image_id, ref, env=env)
    run(*base, "push", "--tls-verify=false", ref, env=env)
    run(*base, "rmi", "-f", image_id, env=env)
    run(*base, "logout", hub.host, env=env)
    # a public repository pulls anonymously
    run(*base, "pull", "--tls-verify=false", ref, env=env)
    inspect = json.loads(run(*base, "image", "inspect", ref, env=env).stdout)
    assert inspect[0]["Id"] == image_id
    assert digest  # podman re-encodes manifests on push, so compare the image id instead
