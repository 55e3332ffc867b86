"""Container lifecycle through the Engine API of a real dockyardd."""

from __future__ import annotations

import io
import json
import socket
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from dockyard_api_test_support import demux, joined, read_all  # type: ignore[import-not-found]

pytestmark = pytest.mark.root


def test_run_logs_and_exit_code(api: Any) -> None:
    cid, code = api.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert code == 3
    frames = api.logs(cid)
    assert joined(frames, 1) == b"out\n" and joined(frames, 2) == b"err\n"
    assert joined(api.logs(cid, stderr=0), 2) == b""
    c = api.inspect(cid)
    assert c["State"]["Status"] == "exited" and c["State"]["ExitCode"] == 3
    assert c["Path"] == "sh" and c["Args"][0] == "-c"
    assert c["Config"]["Image"] == "busybox" and c["Image"].startswith("sha256:")
    assert c["Name"].startswith("/") and c["HostConfig"]["NetworkMode"] == "none"
    assert api.delete(f"/containers/{cid}").status == 204
    assert api.get(f"/containers/{cid}/json").status == 404


def test_logs_tail_and_timestamps(api: Any) -> None:
    cid, _ = api.run(["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done"])
    assert joined(api.logs(cid, tail=2), 1) == b"line4\nline5\n"
    stamped = joined(api.logs(cid, timestamps=1, tail=1), 1)
    assert stamped.endswith(b" line5\n") and stamped[:4].isdigit()
    api.delete(f"/containers/{cid}")


def test_name_conflict_and_rename(api: Any) -> None:
    cid = api.create("named1", Cmd=["true"])
    r = api.post(
        "/containers/create", {"Image": "busybox", "Cmd": ["true"]}, params={"name": "named1"}
    )
    assert r.status == 409
    assert r.message == (
        f'Conflict. The container name "/named1" is already in use by container "{cid}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )
    assert api.post(f"/containers/{cid}/rename", params={"name": "named2"}).status == 204
    assert api.inspect("named2")["Id"] == cid
    assert api.get("/containers/named1/json").status == 404
    r = api.post(
        "/containers/create", {"Image": "busybox", "Cmd": ["true"]}, params={"name": "bad name"}
    )
    assert r.status == 400 and "Invalid container name" in r.message
    api.delete(f"/containers/{cid}")


def test_running_container_stop_kill_rm_rules(api: Any) -> None:
    cid = api.create(Cmd=["sleep", "1000"])
    api.start(cid)
    assert api.post(f"/containers/{cid}/start").status == 304
    st = api.inspect(cid)["State"]
    assert st["Running"] and st["Pid"] > 0 and st["Status"] == "running"
    r = api.delete(f"/containers/{cid}")
    assert r.status == 409 and "You cannot remove a running container" in r.message
    assert api.post(f"/containers/{cid}/pause").status == 204
    assert api.inspect(cid)["State"]["Status"] == "paused"
    assert api.post(f"/containers/{cid}/unpause").status == 204
    t0 = time.monotonic()
    assert api.post(f"/containers/{cid}/stop", params={"t": 1}).status == 204
    assert time.monotonic() - t0 < 8
    st = api.inspect(cid)["State"]
    assert st["Status"] == "exited" and st["ExitCode"] == 137
    assert api.post(f"/containers/{cid}/stop").status == 304
    r = api.post(f"/containers/{cid}/kill")
    assert r.status == 409 and "is not running" in r.message
    assert api.delete(f"/containers/{cid}").status == 204


def test_kill_with_signal_and_restart(api: Any) -> None:
    cid = api.create(Cmd=["sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done"])
    api.start(cid)
    time.sleep(0.5)
    assert api.post(f"/containers/{cid}/kill", params={"signal": "USR1"}).status == 204
    assert api.wait(cid) == 42
    assert api.post(f"/containers/{cid}/restart", params={"t": 1}).status == 204
    assert api.inspect(cid)["State"]["Running"]
    assert api.post(f"/containers/{cid}/kill", params={"signal": "BOGUS"}).status == 400
    assert api.delete(f"/containers/{cid}", params={"force": 1}).status == 204


def test_wait_headers_come_before_the_exit(daemon: Any, api: Any) -> None:
    cid = api.create(Cmd=["sleep", "2"])
    s, head = api.hijack(
        "POST", f"/containers/{cid}/wait", params={"condition": "next-exit"}, upgrade=False
    )
    assert head.startswith(b"HTTP/1.1 200")  # while the container has not even started
    api.start(cid)
    body = read_all(s, 30)
    s.close()
    assert b'"StatusCode": 0' in body
    api.delete(f"/containers/{cid}")


def test_wait_removed_with_autoremove(api: Any) -> None:
    cid = api.create(Cmd=["sh", "-c", "exit 5"], HostConfig={"AutoRemove": True})
    out: dict[str, int] = {}

    def waiter() -> None:
        out["code"] = api.wait(cid, "removed")

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.2)
    api.start(cid)
    t.join(30)
    assert out.get("code") == 5
    deadline = time.monotonic() + 10
    while api.get(f"/containers/{cid}/json").status != 404 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.get(f"/containers/{cid}/json").status == 404


def test_attach_before_start_gets_all_output_and_stdin(api: Any) -> None:
    cid = api.create(
        Cmd=["sh", "-c", "read x; echo got:$x; echo bye >&2"],
        OpenStdin=True,
        StdinOnce=True,
        AttachStdin=True,
    )
    s, head = api.hijack(
        "POST",
        f"/containers/{cid}/attach",
        params={"stream": 1, "stdin": 1, "stdout": 1, "stderr": 1},
    )
    assert head.startswith(b"HTTP/1.1 101")
    api.start(cid)
    s.sendall(b"hello\n")
    s.shutdown(socket.SHUT_WR)
    frames = demux(read_all(s))
    s.close()
    assert joined(frames, 1) == b"got:hello\n"
    assert joined(frames, 2) == b"bye\n"
    assert api.wait(cid) == 0
    api.delete(f"/containers/{cid}")


def test_tty_container_output_is_raw(api: Any) -> None:
    cid, code = api.run(["sh", "-c", "echo tty; test -t 1"], Tty=True)
    assert code == 0
    r = api.get(f"/containers/{cid}/logs", params={"stdout": 1})
    assert r.body.replace(b"\r", b"") == b"tty\n"
    api.delete(f"/containers/{cid}")


def test_exec_create_start_inspect(api: Any) -> None:
    cid = api.create(Cmd=["sleep", "1000"], Env=["FOO=bar"])
    api.start(cid)
    r = api.post(
        f"/containers/{cid}/exec",
        {
            "Cmd": ["sh", "-c", "echo $FOO $X; pwd; exit 6"],
            "Env": ["X=y"],
            "WorkingDir": "/tmp",
            "AttachStdout": True,
            "AttachStderr": True,
        },
    )
    assert r.status == 201
    eid = r.json()["Id"]
    s, head = api.hijack("POST", f"/exec/{eid}/start", {"Detach": False, "Tty": False})
    assert head.startswith(b"HTTP/1.1 101")
    frames = demux(read_all(s))
    s.close()
    assert joined(frames, 1) == b"bar y\n/tmp\n"
    info = api.get(f"/exec/{eid}/json").json()
    assert info["ExitCode"] == 6 and info["Running"] is False and info["ContainerID"] == cid
    # A detached exec leaves its mark in the container.
    r = api.post(f"/containers/{cid}/exec", {"Cmd": ["touch", "/tmp/detached"]})
    eid2 = r.json()["Id"]
    assert api.post(f"/exec/{eid2}/start", {"Detach": True}).status == 200
    r = api.post(f"/containers/{cid}/exec", {"Cmd": ["ls", "/tmp/detached"], "AttachStdout": True})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        e3 = api.post(f"/containers/{cid}/exec", {"Cmd": ["test", "-e", "/tmp/detached"]})
        s, _ = api.hijack("POST", f"/exec/{e3.json()['Id']}/start", {})
        read_all(s)
        s.close()
        if api.get(f"/exec/{e3.json()['Id']}/json").json()["ExitCode"] == 0:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the detached exec did not run")
    assert api.get("/exec/nosuch/json").status == 404
    api.post(f"/containers/{cid}/kill")
    api.wait(cid)
    r = api.post(f"/containers/{cid}/exec", {"Cmd": ["true"]})
    assert r.status == 409
    api.delete(f"/containers/{cid}")


def test_list_filters_and_limit(api: Any) -> None:
    a = api.create("flt-a", Cmd=["true"], Labels={"team": "x"})
    b = api.create("flt-b", Cmd=["sleep", "100"])
    api.start(b)
    ids = [c["Id"] for c in api.get("/containers/json").json()]
    assert b in ids and a not in ids
    ids = [c["Id"] for c in api.get("/containers/json", params={"all": 1}).json()]
    assert a in ids and b in ids

    def filt(f: dict[str, list[str]]) -> list[str]:
        r = api.get("/containers/json", params={"all": 1, "filters": json.dumps(f)})
        assert r.status == 200, r
        return [c["Id"] for c in r.json()]

    assert filt({"label": ["team=x"]}) == [a]
    assert filt({"name": ["flt-b"]}) == [b]
    assert filt({"status": ["created"], "name": ["flt-"]}) == [a]
    assert filt({"id": [b[:10]]}) == [b]
    assert a in filt({"ancestor": ["busybox"]})
    assert len(api.get("/containers/json", params={"all": 1, "limit": 1}).json()) == 1
    assert api.get("/containers/json", params={"filters": '{"status":["bogus"]}'}).status == 400
    entry = next(c for c in api.get("/containers/json").json() if c["Id"] == b)
    assert entry["Names"] == ["/flt-b"] and entry["State"] == "running"
    assert entry["Status"].startswith("Up ")
    api.delete(f"/containers/{a}")
    api.delete(f"/containers/{b}", params={"force": 1})


def test_archive_roundtrip_and_no_escape(api: Any) -> None:
    cid = api.create(
        Cmd=[
            "sh",
            "-c",
            "mkdir -p /data && echo inside > /data/f && "
            "ln -s / /data/up && ln -s ../../../../etc /data/rel && sleep 100",
        ]
    )
    api.start(cid)
    time.sleep(0.5)
    r = api.request("HEAD", f"/containers/{cid}/archive", params={"path": "/data/f"})
    assert r.status == 200 and "x-docker-container-path-stat" in r.headers
    r = api.get(f"/containers/{cid}/archive", params={"path": "/data"})
    assert r.status == 200
    with tarfile.open(fileobj=io.BytesIO(r.body)) as tar:
        names = tar.getnames()
        assert "data/f" in names
        f = tar.extractfile("data/f")
        assert f is not None and f.read() == b"inside\n"
        assert tar.getmember("data/up").issym()
    # A path through a symlink to "/" stays inside the container's root.
    r = api.get(f"/containers/{cid}/archive", params={"path": "/data/up/etc/passwd"})
    assert r.status == 200
    with tarfile.open(fileobj=io.BytesIO(r.body)) as tar:
        member = tar.extractfile("passwd")
        assert member is not None
        assert (
            member.read()
            == Path(f"/proc/{api.inspect(cid)['State']['Pid']}/root/etc/passwd").read_bytes()
        )
    # Upload a file, then read it back with exec.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("up.txt")
        data = b"uploaded\n"
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    r = api.request(
        "PUT",
        f"/containers/{cid}/archive",
        params={"path": "/data/rel"},
        raw=buf.getvalue(),
        headers={"Content-Type": "application/x-tar"},
    )
    assert r.status == 200, r
    pid = api.inspect(cid)["State"]["Pid"]
    assert Path(f"/proc/{pid}/root/etc/up.txt").read_bytes() == b"uploaded\n"
    r = api.get(f"/containers/{cid}/archive", params={"path": "/nope"})
    assert r.status == 404
    api.delete(f"/containers/{cid}", params={"force": 1})


def test_changes_export_top_stats_update(api: Any) -> None:
    cid = api.create(Cmd=["sh", "-c", "echo x > /newfile; rm /bin/vi; sleep 100"])
    api.start(cid)
    time.sleep(0.5)
    ch = {(c["Path"], c["Kind"]) for c in api.get(f"/containers/{cid}/changes").json()}
    assert ("/newfile", 1) in ch and ("/bin/vi", 2) in ch and ("/bin", 0) in ch
    r = api.get(f"/containers/{cid}/export")
    with tarfile.open(fileobj=io.BytesIO(r.body)) as tar:
        names = set(tar.getnames())
    assert "newfile" in names and "bin/busybox" in names and "bin/vi" not in names
    top = api.get(f"/containers/{cid}/top").json()
    assert "PID" in top["Titles"] and any("sleep" in " ".join(p) for p in top["Processes"])
    st = api.get(f"/containers/{cid}/stats", params={"stream": 0, "one-shot": 1}).json()
    assert st["id"] == cid and st["memory_stats"]["usage"] > 0
    assert st["cpu_stats"]["online_cpus"] >= 1 and st["pids_stats"]["current"] >= 1
    r = api.post(f"/containers/{cid}/update", {"Memory": 64 * 1024 * 1024, "PidsLimit": 50})
    assert r.status == 200, r
    hc = api.inspect(cid)["HostConfig"]
    assert hc["Memory"] == 64 * 1024 * 1024 and hc["PidsLimit"] == 50
    st = api.get(f"/containers/{cid}/stats", params={"stream": 0, "one-shot": 1}).json()
    assert st["memory_stats"]["limit"] == 64 * 1024 * 1024
    api.delete(f"/containers/{cid}", params={"force": 1})


def test_volumes_and_binds_in_containers(api: Any, tmp_path: Any) -> None:
    host = tmp_path / "bind"
    host.mkdir()
    (host / "in.txt").write_text("from host\n")
    cid, code = api.run(
        ["sh", "-c", "cat /b/in.txt && echo v > /vol/f && ! touch /ro/x 2>/dev/null"],
        HostConfig={"Binds": [f"{host}:/b", "named-v:/vol", f"{host}:/ro:ro"]},
    )
    assert code == 0, api.logs(cid)
    assert joined(api.logs(cid), 1) == b"from host\n"
    mounts = {m["Destination"]: m for m in api.inspect(cid)["Mounts"]}
    assert mounts["/vol"]["Name"] == "named-v" and mounts["/ro"]["RW"] is False
    v = api.get("/volumes/named-v").json()
    assert Path(v["Mountpoint"], "f").read_text() == "v\n"
    r = api.delete("/volumes/named-v")
    assert r.status == 409 and "volume is in use" in r.message
    cid2, code = api.run(["cat", "/again/f"], HostConfig={"Binds": ["named-v:/again"]})
    assert code == 0 and joined(api.logs(cid2), 1) == b"v\n"
    api.delete(f"/containers/{cid}")
    api.delete(f"/containers/{cid2}")
    assert api.delete("/volumes/named-v").status == 204


def test_restart_policy_on_failure(api: Any) -> None:
    cid = api.create(
        Cmd=["sh", "-c", "exit 1"],
        HostConfig={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}},
    )
    api.start(cid)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        c = api.inspect(cid)
        if c["RestartCount"] == 2 and c["State"]["Status"] == "exited":
            break
        time.sleep(0.1)
    c = api.inspect(cid)
    assert c["RestartCount"] == 2 and c["State"]["Status"] == "exited"
    api.delete(f"/containers/{cid}", params={"force": 1})


def test_events_stream(api: Any) -> None:
    since = time.time()
    cid, _ = api.run(["true"])
    api.delete(f"/containers/{cid}")
    r = api.get(
        "/events",
        params={
            "since": since,
            "until": time.time() + 0.5,
            "filters": json.dumps({"container": [cid]}),
        },
    )
    actions = [json.loads(line)["Action"] for line in r.body.splitlines()]
    assert actions[:1] == ["create"] and "start" in actions and "die" in actions
    assert actions[-1] == "destroy"


def test_images_routes(api: Any) -> None:
    imgs = api.get("/images/json").json()
    bb = [i for i in imgs if "busybox:latest" in i["RepoTags"]]
    assert len(bb) == 1
    assert api.post("/images/busybox/tag", params={"repo": "mybox", "tag": "v1"}).status == 201
    assert api.get("/images/mybox:v1/json").json()["Id"] == bb[0]["Id"]
    assert api.get("/images/busybox/history").status == 200
    tar = api.get("/images/mybox:v1/get")
    assert tar.status == 200 and tar.headers["content-type"] == "application/x-tar"
    r = api.delete("/images/mybox:v1")
    assert r.status == 200 and r.json() == [{"Untagged": "mybox:v1"}]
    r = api.post("/images/load", raw=tar.body, headers={"Content-Type": "application/x-tar"})
    assert r.status == 200 and b"Loaded image: mybox:v1" in r.body
    api.delete("/images/mybox:v1")


def test_commit_makes_a_runnable_image(api: Any) -> None:
    cid, _ = api.run(["sh", "-c", "echo committed > /marker"])
    r = api.post(
        "/commit",
        {"Cmd": ["cat", "/marker"]},
        params={"container": cid, "repo": "committed", "tag": "t1"},
    )
    assert r.status == 201, r
    c2 = api.create(Image="committed:t1")
    api.start(c2)
    assert api.wait(c2) == 0
    assert joined(api.logs(c2), 1) == b"committed\n"
    api.delete(f"/containers/{cid}")
    api.delete(f"/containers/{c2}")
    api.delete("/images/committed:t1")


def test_create_time_validation_and_options(api: Any) -> None:
    r = api.post(
        "/containers/create",
        {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"CapAdd": ["BOGUS"]}},
    )
    assert r.status == 400 and "unknown capability" in r.message
    r = api.post(
        "/containers/create",
        {
            "Image": "busybox",
            "Cmd": ["true"],
            "HostConfig": {"NetworkMode": "bridge", "PortBindings": {"80/tcp": [{}]}},
        },
    )
    assert r.status == 400
    cid, code = api.run(
        ["sh", "-c", "id -u; hostname"], User="nobody", HostConfig={"NetworkMode": "host"}
    )
    assert code == 0
    out = joined(api.logs(cid), 1).decode().split()
    assert out == ["65534", __import__("socket").gethostname()]
    api.delete(f"/containers/{cid}")
    cid, code = api.run(
        ["sh", "-c", "test -d /a && test -d /m && ! touch /x"],
        HostConfig={
            "Binds": ["anon-opt:/a"],
            "ReadonlyRootfs": True,
            "Mounts": [{"Type": "tmpfs", "Target": "/m"}],
        },
    )
    assert code == 0, api.logs(cid)
    api.delete(f"/containers/{cid}", params={"v": 1})
    assert api.delete("/volumes/anon-opt").status == 204


def test_bind_type_volume_and_import(api: Any, tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    r = api.post(
        "/volumes/create",
        {"Name": "bindvol", "DriverOpts": {"type": "none", "o": "bind", "device": str(dev)}},
    )
    assert r.status == 201
    _cid, code = api.run(
        ["sh", "-c", "echo through > /v/f"],
        HostConfig={"Binds": ["bindvol:/v"], "AutoRemove": False},
    )
    assert code == 0
    assert (dev / "f").read_text() == "through\n"
    api.delete(f"/containers/{_cid}")
    assert api.delete("/volumes/bindvol").status == 204
    # docker import: a rootfs tarball becomes a one-layer image that runs.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add("/bin/busybox", arcname="bin/busybox")
        for applet in ("sh", "cat"):
            ti = tarfile.TarInfo(f"bin/{applet}")
            ti.type = tarfile.SYMTYPE
            ti.linkname = "busybox"
            tar.addfile(ti)
        data = b"imported\n"
        ti = tarfile.TarInfo("hello.txt")
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    r = api.post(
        "/images/create",
        params={"fromSrc": "-", "repo": "imported", "tag": "v1"},
        raw=buf.getvalue(),
        headers={"Content-Type": "application/x-tar"},
    )
    assert r.status == 200 and b"sha256:" in r.body
    cid, code = api.run(["cat", "/hello.txt"], Image="imported:v1")
    assert code == 0 and joined(api.logs(cid), 1) == b"imported\n"
    api.delete(f"/containers/{cid}")
    assert api.delete("/images/imported:v1").status == 200


def test_resize_prune_and_disk_usage(api: Any) -> None:
    cid = api.create(Cmd=["sh", "-c", "sleep 0.5; stty size; sleep 100"], Tty=True, OpenStdin=True)
    api.start(cid)
    assert api.post(f"/containers/{cid}/resize", params={"h": 33, "w": 77}).status == 200
    time.sleep(1)
    assert b"33 77" in api.get(f"/containers/{cid}/logs", params={"stdout": 1}).body
    e = api.post(
        f"/containers/{cid}/exec",
        {"Cmd": ["sh", "-c", "sleep 0.3; stty size"], "Tty": True, "AttachStdout": True},
    ).json()["Id"]
    s, _ = api.hijack("POST", f"/exec/{e}/start", {"Tty": True})
    assert api.post(f"/exec/{e}/resize", params={"h": 20, "w": 50}).status == 201
    assert b"20 50" in read_all(s)
    s.close()
    api.delete(f"/containers/{cid}", params={"force": 1})
    stopped, _ = api.run(["true"])
    r = api.post("/containers/prune")
    assert r.status == 200 and stopped in (r.json()["ContainersDeleted"] or [])
    df = api.get("/system/df").json()
    assert {"Images", "Containers", "Volumes", "LayersSize"} <= set(df)
    assert any("busybox:latest" in (i.get("RepoTags") or []) for i in df["Images"])
    r = api.post("/images/prune", params={"filters": '{"dangling": ["true"]}'})
    assert r.status == 200 and "SpaceReclaimed" in r.json()


def test_logs_since_and_until(api: Any) -> None:
    cid = api.create(Cmd=["sh", "-c", "echo early; sleep 1.5; echo late"])
    api.start(cid)
    assert api.wait(cid) == 0
    entries = api.get(f"/containers/{cid}/logs", params={"stdout": 1, "timestamps": 1}).body
    stamps = [f[1].split(b" ", 1)[0].decode() for f in demux(entries)]
    assert len(stamps) == 2
    from dockyard.engine.logs import parse_timestamp

    t_late = parse_timestamp(stamps[1]) / 1e9
    assert joined(api.logs(cid, since=t_late - 0.5), 1) == b"late\n"
    assert joined(api.logs(cid, until=t_late - 0.5), 1) == b"early\n"
    # A tail that is no number means all of it, as with dockerd.
    assert joined(api.logs(cid, tail="x"), 1) == b"early\nlate\n"
    r = api.get(f"/containers/{cid}/logs")
    assert r.status == 400 and "at least one" in r.message
    api.delete(f"/containers/{cid}")


def test_paused_containers_stop_and_force_remove(api: Any) -> None:
    a = api.create(Cmd=["sleep", "1000"])
    b = api.create(Cmd=["sleep", "1000"])
    for cid in (a, b):
        api.start(cid)
        assert api.post(f"/containers/{cid}/pause").status == 204
    r = api.post(f"/containers/{a}/pause")
    assert r.status == 409 and "already paused" in r.message
    r = api.post(f"/containers/{a}/start")
    assert r.status == 409 and "unpause" in r.message
    r = api.delete(f"/containers/{a}")
    assert r.status == 409 and "paused container" in r.message
    assert api.post(f"/containers/{a}/stop", params={"t": 1}).status == 204
    assert api.inspect(a)["State"]["Status"] == "exited"
    assert api.delete(f"/containers/{b}", params={"force": 1}).status == 204
    assert api.get(f"/containers/{b}/json").status == 404
    top = api.post(f"/containers/{a}/unpause")
    assert top.status == 409
    api.delete(f"/containers/{a}")


def test_top_with_ps_args_and_rename_conflict(api: Any) -> None:
    a = api.create("ren-a", Cmd=["sleep", "1000"])
    b = api.create("ren-b", Cmd=["true"])
    api.start(a)
    top = api.get(f"/containers/{a}/top", params={"ps_args": "-o pid,comm"}).json()
    assert top["Titles"] == ["PID", "COMMAND"]
    assert [p[1] for p in top["Processes"]] == ["sleep"]
    r = api.post(f"/containers/{b}/rename", params={"name": "ren-a"})
    assert r.status == 409
    assert api.get(f"/containers/{b}/top").status == 409
    api.delete(f"/containers/{a}", params={"force": 1})
    api.delete(f"/containers/{b}")


def test_large_stdin_reaches_the_process_whole(api: Any) -> None:
    """2 MiB of stdin then end-of-input, as `run -i` sends it: nothing is cut off (the
    half-close waits for the buffered input) and the output comes back."""
    import hashlib

    payload = bytes(range(256)) * 8192
    want = hashlib.md5(payload).hexdigest().encode()
    for _ in range(4):
        cid = api.create(
            Cmd=["md5sum"],
            OpenStdin=True,
            StdinOnce=True,
            AttachStdin=True,
            AttachStdout=True,
            AttachStderr=True,
        )
        s, head = api.hijack(
            "POST",
            f"/containers/{cid}/attach",
            params={"stream": 1, "stdin": 1, "stdout": 1, "stderr": 1},
        )
        assert head.startswith(b"HTTP/1.1 101")
        api.start(cid)
        sender = threading.Thread(
            target=lambda sock=s: (sock.sendall(payload), sock.shutdown(socket.SHUT_WR))
        )
        sender.start()
        out = read_all(s, 60)
        sender.join(30)
        s.close()
        assert joined(demux(out), 1).split()[:1] == [want]
        assert api.wait(cid) == 0
        api.delete(f"/containers/{cid}")
