"""dockyard-hub against Debian's docker-registry (registry:2) on loopback, one invocation.

Figures: manifest GETs per second with concurrent clients, blob upload and download MB/s,
and (when skopeo is installed) the time skopeo takes to push and to pull a multi-layer
image of `--image-mb` MB to and from each registry.
Both registries get the same requests from the same aiohttp client; the hub is asked
with a bearer token (fetched once, as clients cache it), registry:2 without auth (its only
built-in alternatives are htpasswd, a bcrypt check on every request, or a separate token
server): the hub does strictly more work. skopeo gets credentials for the hub only, so each
of its pulls does the hub's token round trip (the first one of a minute also pays scrypt).
Pulls are interleaved runs; the figure is the median, the best is printed too. Load from
elsewhere on the machine moves these figures by ±30%: compare within one invocation.

    .venv/bin/python bench/hub_bench.py [--size-mb 100] [--clients 32] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from benchlib import free_port, wait_port

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CHUNK = 1 << 20


@dataclass
class Target:
    name: str
    base: str
    repo: str
    token: str | None = None

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        h = dict(extra or {})
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h


def start_registry(tmp: Path) -> tuple[subprocess.Popen[bytes], Target]:
    exe = shutil.which("docker-registry")
    if exe is None:
        raise SystemExit("docker-registry is not installed (apt-get install docker-registry)")
    port = free_port()
    cfg = tmp / "registry.yml"
    cfg.write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp / 'registry'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    with open(tmp / "registry.log", "wb") as log:
        proc = subprocess.Popen([exe, "serve", str(cfg)], stdout=subprocess.DEVNULL, stderr=log)
    wait_port(port, proc)
    return proc, Target("registry:2", f"http://127.0.0.1:{port}", "bench/img")


def start_hub(tmp: Path) -> tuple[subprocess.Popen[bytes], Target]:
    data = tmp / "hub"
    subprocess.run(
        [
            PY,
            "-m",
            "dockyard.hub.cli",
            "user",
            "add",
            "bench",
            "--password-stdin",
            "--data",
            str(data),
        ],
        input=b"bench-password\n",
        check=True,
        capture_output=True,
    )
    port = free_port()
    cfg = tmp / "hub.toml"
    cfg.write_text("gc_interval = 0\n")
    serve = [PY, "-m", "dockyard.hub.cli", "serve", "--listen", f"127.0.0.1:{port}"]
    with open(tmp / "hub.log", "wb") as log:
        proc = subprocess.Popen(
            [*serve, "--data", str(data), "--config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    wait_port(port, proc)
    return proc, Target("dockyard-hub", f"http://127.0.0.1:{port}", "bench/img")


async def fetch_token(session: aiohttp.ClientSession, t: Target) -> None:
    cred = base64.b64encode(b"bench:bench-password").decode()
    async with session.get(
        f"{t.base}/token",
        params={"service": "dockyard-hub", "scope": f"repository:{t.repo}:pull,push"},
        headers={"Authorization": f"Basic {cred}"},
    ) as r:
        r.raise_for_status()
        t.token = (await r.json())["token"]


async def upload_blob(session: aiohttp.ClientSession, t: Target, data: bytes) -> float:
    """POST a session, stream the body in one PATCH, PUT with the digest; seconds taken."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()

    async def body() -> Any:
        view = memoryview(data)
        for i in range(0, len(data), CHUNK):
            yield bytes(view[i : i + CHUNK])

    start = time.perf_counter()
    async with session.post(f"{t.base}/v2/{t.repo}/blobs/uploads/", headers=t.headers()) as r:
        assert r.status == 202, (t.name, r.status, await r.text())
        loc = r.headers["Location"]
    url = loc if loc.startswith("http") else t.base + loc
    async with session.patch(
        url, data=body(), headers=t.headers({"Content-Type": "application/octet-stream"})
    ) as r:
        assert r.status == 202, (t.name, r.status, await r.text())
        loc = r.headers["Location"]
    url = loc if loc.startswith("http") else t.base + loc
    sep = "&" if "?" in url else "?"
    async with session.put(f"{url}{sep}digest={digest}", headers=t.headers()) as r:
        assert r.status == 201, (t.name, r.status, await r.text())
    return time.perf_counter() - start


async def download_blob(session: aiohttp.ClientSession, t: Target, digest: str, size: int) -> float:
    start = time.perf_counter()
    got = 0
    async with session.get(f"{t.base}/v2/{t.repo}/blobs/{digest}", headers=t.headers()) as r:
        assert r.status == 200, (t.name, r.status)
        async for chunk in r.content.iter_any():
            got += len(chunk)
    assert got == size
    return time.perf_counter() - start


def curl_download(t: Target, digest: str) -> float:
    auth = ["-H", f"Authorization: Bearer {t.token}"] if t.token else []
    start = time.perf_counter()
    subprocess.run(
        ["curl", "-sf", "-o", "/dev/null", *auth, f"{t.base}/v2/{t.repo}/blobs/{digest}"],
        check=True,
        timeout=600,
    )
    return time.perf_counter() - start


async def push_small_image(session: aiohttp.ClientSession, t: Target) -> str:
    layer = os.urandom(1024)
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    for blob in (layer, config):
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        async with session.post(
            f"{t.base}/v2/{t.repo}/blobs/uploads/",
            params={"digest": digest},
            data=blob,
            headers=t.headers({"Content-Type": "application/octet-stream"}),
        ) as r:
            status, loc = r.status, r.headers.get("Location", "")
        if status == 202:
            # Monolithic POST is optional in the spec; registry:2 opens a session instead.
            url = loc if loc.startswith("http") else t.base + loc
            sep = "&" if "?" in url else "?"
            async with session.put(
                f"{url}{sep}digest={digest}", data=blob, headers=t.headers()
            ) as r:
                status = r.status
        assert status == 201, (t.name, status)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest(),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    async with session.put(
        f"{t.base}/v2/{t.repo}/manifests/latest",
        data=manifest,
        headers=t.headers({"Content-Type": OCI_MANIFEST}),
    ) as r:
        assert r.status == 201, (t.name, r.status, await r.text())
        return str(r.headers["Docker-Content-Digest"])


async def manifest_rate(t: Target, clients: int, seconds: float) -> float:
    conn = aiohttp.TCPConnector(limit=clients)
    count = 0
    headers = t.headers({"Accept": OCI_MANIFEST})
    url = f"{t.base}/v2/{t.repo}/manifests/latest"
    async with aiohttp.ClientSession(connector=conn) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal count
            while time.perf_counter() < deadline:
                async with session.get(url, headers=headers) as r:
                    await r.read()
                    assert r.status == 200, (t.name, r.status)
                count += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return count / elapsed


async def bench_all(
    targets: list[Target], data: bytes, clients: int, seconds: float, rounds: int
) -> dict[str, dict[str, float]]:
    """Rounds alternate between the targets, so that load from elsewhere on the machine
    falls on both alike; each figure is the best round."""
    timeout = aiohttp.ClientTimeout(total=600)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    mb = len(data) / 1e6
    ups: dict[str, list[float]] = {t.name: [] for t in targets}
    downs: dict[str, list[float]] = {t.name: [] for t in targets}
    rates: dict[str, list[float]] = {t.name: [] for t in targets}
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for t in targets:
            if t.name == "dockyard-hub":
                await fetch_token(session, t)
            await push_small_image(session, t)
        for i in range(rounds):
            for t in targets:
                if i:  # unlink, so that the next round uploads again
                    url = f"{t.base}/v2/{t.repo}/blobs/{digest}"
                    async with session.delete(url, headers=t.headers()):
                        pass
                ups[t.name].append(await upload_blob(session, t, data))
        for _ in range(rounds):
            for t in targets:
                downs[t.name].append(await download_blob(session, t, digest, len(data)))
    curl: dict[str, list[float]] = {t.name: [] for t in targets}
    if shutil.which("curl"):
        # A C client as well: at ~1 GB/s the Python client itself becomes the limit.
        for _ in range(rounds):
            for t in targets:
                curl[t.name].append(curl_download(t, digest))
    for _ in range(rounds):
        for t in targets:
            rates[t.name].append(await manifest_rate(t, clients, seconds / rounds))
    return {
        t.name: {
            "manifest_gets_per_s": max(rates[t.name]),
            "upload_mb_s": mb / min(ups[t.name]),
            "download_mb_s": mb / min(downs[t.name]),
            **({"curl_download_mb_s": mb / min(curl[t.name])} if curl[t.name] else {}),
        }
        for t in targets
    }


def write_big_layout(dest: Path, total_mb: int, layers: int = 4) -> None:
    """An OCI layout with `layers` uncompressed layers of random bytes (stored as-is)."""
    import io
    import tarfile

    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    descs = []
    diff_ids = []
    for i in range(layers):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            payload = os.urandom(total_mb * 1_000_000 // layers)
            info = tarfile.TarInfo(f"layer{i}.bin")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        data = raw.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        descs.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": f"sha256:{digest}",
                "size": len(data),
            }
        )
        diff_ids.append(f"sha256:{digest}")
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()
    (blobs / hashlib.sha256(config).hexdigest()).write_bytes(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                "size": len(config),
            },
            "layers": descs,
        }
    ).encode()
    mdigest = hashlib.sha256(manifest).hexdigest()
    (blobs / mdigest).write_bytes(manifest)
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (dest / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": f"sha256:{mdigest}",
                        "size": len(manifest),
                        "annotations": {"org.opencontainers.image.ref.name": "latest"},
                    }
                ],
            }
        )
    )


def skopeo_push(t: Target, layout: Path) -> float:
    skopeo = shutil.which("skopeo")
    assert skopeo is not None
    creds = ["--dest-creds", "bench:bench-password"] if t.name == "dockyard-hub" else []
    ref = f"docker://{t.base.removeprefix('http://')}/bench/big:latest"
    start = time.perf_counter()
    subprocess.run(
        [skopeo, "copy", "-q", "--dest-tls-verify=false", *creds, f"oci:{layout}:latest", ref],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return time.perf_counter() - start


def skopeo_pull(t: Target, tmp: Path) -> float:
    skopeo = shutil.which("skopeo")
    assert skopeo is not None
    creds = ["--src-creds", "bench:bench-password"] if t.name == "dockyard-hub" else []
    ref = f"docker://{t.base.removeprefix('http://')}/bench/big:latest"
    out = tmp / f"pulled-{t.name.replace(':', '-')}"
    start = time.perf_counter()
    subprocess.run(
        [skopeo, "copy", "-q", "--src-tls-verify=false", *creds, ref, f"oci:{out}:latest"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    took = time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)
    return took


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=6.0, help="manifest GETs, per target")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--image-mb", type=int, default=200, help="0 skips the skopeo figures")
    ap.add_argument("--pulls", type=int, default=5, help="skopeo pulls per registry")
    ap.add_argument("--pushes", type=int, default=3, help="skopeo pushes per registry")
    args = ap.parse_args(argv)
    load_before = _loadavg()
    data = os.urandom(args.size_mb * 1_000_000)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmpdir:
        tmp = Path(tmpdir)
        layout = tmp / "big-image"
        with_skopeo = args.image_mb > 0 and shutil.which("skopeo") is not None
        if with_skopeo:
            write_big_layout(layout, args.image_mb)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            targets = []
            for starter in (start_registry, start_hub):
                proc, target = starter(tmp)
                procs.append(proc)
                targets.append(target)
            results.update(
                asyncio.run(bench_all(targets, data, args.clients, args.seconds, args.rounds))
            )
            if with_skopeo:
                for target in targets:
                    skopeo_push(target, layout)  # for the pulls
                # A second push would find the blobs there (or mount them: skopeo remembers
                # where it saw them): each timed push goes to fresh registries.
                pushes: dict[str, list[float]] = {t.name: [] for t in targets}
                for i in range(max(1, min(args.pushes, 10))):
                    fresh_dir = tmp / f"push{i}"
                    fresh_dir.mkdir()
                    fresh: list[tuple[subprocess.Popen[bytes], Target]] = []
                    try:
                        for starter in (start_registry, start_hub):
                            fresh.append(starter(fresh_dir))
                        order = fresh if i % 2 == 0 else fresh[::-1]
                        for _, target in order:
                            pushes[target.name].append(skopeo_push(target, layout))
                    finally:
                        for proc, _ in fresh:
                            proc.terminate()
                            proc.wait(10)
                        shutil.rmtree(fresh_dir, ignore_errors=True)
                for name, runs in pushes.items():
                    runs.sort()
                    results[name]["skopeo_push_sec"] = runs[len(runs) // 2]
                    results[name]["skopeo_push_best_sec"] = runs[0]
                pulls: dict[str, list[float]] = {t.name: [] for t in targets}
                for i in range(max(1, min(args.pulls, 20))):
                    for target in targets if i % 2 == 0 else targets[::-1]:
                        pulls[target.name].append(skopeo_pull(target, tmp))
                for target in targets:
                    runs = sorted(pulls[target.name])
                    results[target.name]["skopeo_pull_sec"] = runs[len(runs) // 2]
                    results[target.name]["skopeo_pull_best_sec"] = runs[0]
        finally:
            for proc in procs:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    results["load_average"] = {"before": load_before, "after": _loadavg()}  # type: ignore[dict-item]
    hub, reg = results["dockyard-hub"], results["registry:2"]
    # A ratio above 1 means the hub is better: rates divide hub by registry, times the
    # other way round.
    ratios = {k: (reg[k] / hub[k] if k.endswith("_sec") else hub[k] / reg[k]) for k in hub}
    results["ratio hub/registry"] = ratios
    print(f"load average {load_before} -> {results['load_average']['after']}")
    print(f"{'figure':<22}{'registry:2':>14}{'dockyard-hub':>14}{'hub better by':>15}")
    for k in hub:
        print(f"{k:<22}{reg[k]:>14.2f}{hub[k]:>14.2f}{ratios[k]:>14.2f}x")
    return results


if __name__ == "__main__":
    main()
