"""The real `docker` CLI through dockyardd: login, push, pull, run, logout against dockyard-hub."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dockyard_distribution_test_daemons as daemons  # type: ignore[import-not-found]
import pytest

pytestmark = pytest.mark.compat


@pytest.fixture(scope="module")
def docker() -> str:
    path = shutil.which("docker")
    if path is None:
        pytest.skip("the docker CLI is not installed")
    if os.geteuid() != 0:
        pytest.skip("needs root (dockyardd runs containers)")
    return path


@pytest.fixture(scope="module")
def pair(hub: Any, docker: str) -> Iterator[tuple[Any, Any]]:
    with daemons.daemon_pair(hub.addr) as two:
        yield two


def _docker(
    docker: str, daemon: Any, config: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(config.parent),
        "DOCKER_HOST": f"unix://{daemon.sock}",
        "DOCKER_CONFIG": str(config),
    }
    return subprocess.run(
        [docker, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_docker_login_push_pull_run(
    docker: str, hub: Any, pair: tuple[Any, Any], tmp_path: Path
) -> None:
    one, two = pair
    cfg = tmp_path / "docker-config"
    image = f"{hub.addr}/alice/viadocker:1"

    r = _docker(
        docker, one, cfg, "login", hub.addr, "-u", "alice", "--password-stdin", stdin="wrong\n"
    )
    assert r.returncode != 0 and "incorrect username or password" in r.stderr, r
    r = _docker(
        docker,
        one,
        cfg,
        "login",
        hub.addr,
        "-u",
        "alice",
        "--password-stdin",
        stdin="alice-pass-1\n",
    )
    assert r.returncode == 0, r.stderr
    assert "Login Succeeded" in r.stdout
    conf = cfg / "config.json"
    assert hub.addr in json.loads(conf.read_text())["auths"]
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600

    assert _docker(docker, one, cfg, "tag", "busybox", image).returncode == 0
    r = _docker(docker, one, cfg, "push", image)
    assert r.returncode == 0, r.stderr
    assert f"The push refers to repository [{hub.addr}/alice/viadocker]" in r.stdout
    assert "1: digest: sha256:" in r.stdout
    digest = r.stdout.split("1: digest: ")[1].split()[0]

    r = _docker(docker, two, cfg, "pull", image)
    assert r.returncode == 0, r.stderr
    assert f"Digest: {digest}" in r.stdout
    assert f"Status: Downloaded newer image for {image}" in r.stdout
    r = _docker(docker, two, cfg, "run", "--rm", image, "echo", "pulled and ran")
    assert r.returncode == 0 and r.stdout == "pulled and ran\n", r
    r = _docker(docker, two, cfg, "image", "inspect", "-f", "{{json .RepoDigests}}", image)
    assert f"{hub.addr}/alice/viadocker@{digest}" in r.stdout

    r = _docker(docker, two, cfg, "search", "--format", "{{.Name}}", f"{hub.addr}/viadocker")
    assert r.returncode == 0 and "alice/viadocker" in r.stdout, r

    # Someone else's namespace: Docker's denied message, non-zero exit.
    assert _docker(docker, one, cfg, "tag", "busybox", f"{hub.addr}/bob/x:1").returncode == 0
    r = _docker(docker, one, cfg, "push", f"{hub.addr}/bob/x:1")
    assert r.returncode != 0 and "denied" in r.stderr, r

    r = _docker(docker, one, cfg, "logout", hub.addr)
    assert r.returncode == 0, r.stderr
    assert hub.addr not in json.loads(conf.read_text()).get("auths", {})


def test_docker_pull_of_an_index_shows_its_digest(
    docker: str, hub: Any, pair: tuple[Any, Any], tmp_path: Path
) -> None:
    """A tag naming an OCI index: `docker pull` prints the index's digest and
    `docker images --digests` shows it, as Docker does; pulling by it finds the image."""
    from dockyard.distribution.auth import Credentials
    from dockyard.distribution.pull import Puller
    from dockyard.oci import mediatypes as mt
    from dockyard.oci.digest import sha256_bytes
    from dockyard.oci.platform import host_platform
    from dockyard.oci.reference import normalize

    one, two = pair
    cfg = tmp_path / "docker-config"
    repo = "alice/viaindex"
    r = _docker(docker, one, cfg, "login", hub.addr, "-u", "alice", "--password-stdin",
                stdin="alice-pass-1\n")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert _docker(docker, one, cfg, "tag", "busybox", f"{hub.addr}/{repo}:plain").returncode == 0
    r = _docker(docker, one, cfg, "push", f"{hub.addr}/{repo}:plain")
    assert r.returncode == 0, r.stderr

    client = Puller(None, creds=Credentials("alice", "alice-pass-1")).client_for(
        normalize(f"{hub.addr}/{repo}:plain")
    )
    body, media_type, manifest_digest = client.get_manifest(repo, "plain")
    host = host_platform()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [
                {
                    "mediaType": media_type,
                    "digest": str(manifest_digest),
                    "size": len(body),
                    "platform": {"architecture": arch, "os": "linux"},
                }
                for arch in ("s390x", host.architecture)
            ],
        }
    ).encode()
    index_digest = client.put_manifest(repo, "multi", index, mt.OCI_INDEX)
    assert index_digest == sha256_bytes(index) != manifest_digest

    image = f"{hub.addr}/{repo}:multi"
    r = _docker(docker, two, cfg, "pull", image)
    assert r.returncode == 0, r.stderr
    assert f"Digest: {index_digest}" in r.stdout, r.stdout
    r = _docker(docker, two, cfg, "images", "--digests", "--format",
                "{{.Repository}} {{.Tag}} {{.Digest}}")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"{hub.addr}/{repo} multi {index_digest}" in r.stdout.splitlines(), r.stdout
    r = _docker(docker, two, cfg, "pull", f"{hub.addr}/{repo}@{index_digest}")
    assert r.returncode == 0, r.stderr
    assert "Image is up to date" in r.stdout, r.stdout
