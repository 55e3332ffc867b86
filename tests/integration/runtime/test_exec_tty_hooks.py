"""exec, terminals (console socket and `run` through a pty) and hooks."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import RUNC, Runtime, make_config
from .consolesock import ConsoleSocket, read_until

pytestmark = pytest.mark.root


def field(text: str, name: str) -> str:
    return next(
        ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith(name + ":")
    )


def running(rt: Runtime, cfg: dict[str, object] | None = None) -> str:
    cid = rt.create(cfg or make_config(["sleep", "100"]))
    rt.cmd("start", cid, check=True)
    return cid


def test_exec_basics(rt: Runtime) -> None:
    cid = running(rt)
    r = rt.cmd("exec", cid, "sh", "-c", "echo $$ $FOO; pwd; ps -o pid,comm | grep sleep")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1] == "/"
    assert lines[2].split() == ["1", "sleep"]  # joined the container's pid namespace
    assert rt.cmd("exec", cid, "sh", "-c", "exit 9").returncode == 9
    r = rt.cmd(
        "exec",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "--user",
        "1000:1001",
        cid,
        "sh",
        "-c",
        "echo $FOO; pwd; id -u; id -g",
    )
    assert r.stdout.split() == ["bar", "/tmp", "1000", "1001"]


def test_exec_same_namespaces_and_cgroup(rt: Runtime) -> None:
    cid = running(rt)
    pid = rt.state(cid)["pid"]
    names = ["pid", "net", "ipc", "uts", "mnt"]
    r = rt.cmd(
        "exec",
        cid,
        "sh",
        "-c",
        "for n in pid net ipc uts mnt; do readlink /proc/self/ns/$n; done; cat /proc/self/cgroup",
    )
    out = r.stdout.splitlines()
    assert out[:5] == [os.readlink(f"/proc/{pid}/ns/{n}") for n in names]
    assert sorted(out[5:]) == sorted(Path(f"/proc/{pid}/cgroup").read_text().splitlines())


def test_exec_capabilities_match_and_inheritable_empty(rt: Runtime) -> None:
    # runc CVE-2022-29162: an exec'd process must not get inheritable/ambient caps.
    cid = running(rt)
    init = Path(f"/proc/{rt.state(cid)['pid']}/status").read_text()
    out = rt.cmd("exec", cid, "cat", "/proc/self/status").stdout
    for name in ("CapBnd", "CapEff", "CapPrm", "NoNewPrivs", "Seccomp"):
        assert field(out, name) == field(init, name), name
    assert int(field(out, "CapInh"), 16) == 0 and int(field(out, "CapAmb"), 16) == 0
    out = rt.cmd("exec", "--cap", "CAP_SYS_ADMIN", cid, "cat", "/proc/self/status").stdout
    assert int(field(out, "CapBnd"), 16) & (1 << 21)
    assert int(field(out, "CapInh"), 16) == 0
    bad = rt.cmd("exec", "--cap", "CAP_NOPE", cid, "true")
    assert bad.returncode != 0 and "CAP_NOPE" in bad.stderr


def test_exec_process_json_detach_pidfile(rt: Runtime, tmp_path: Path) -> None:
    cid = running(rt)
    proc = {
        "args": ["sh", "-c", "echo from-json > /tmp/out; sleep 100"],
        "env": ["PATH=/bin"],
        "cwd": "/",
        "user": {"uid": 0, "gid": 0},
    }
    pf = tmp_path / "proc.json"
    pf.write_text(json.dumps(proc))
    pidfile = tmp_path / "exec.pid"
    r = rt.cmd("exec", "--process", str(pf), "--detach", "--pid-file", str(pidfile), cid)
    assert r.returncode == 0, r.stderr
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while not (rt.rootfs / "tmp" / "out").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (rt.rootfs / "tmp" / "out").read_text() == "from-json\n"
    assert Path(f"/proc/{pid}/exe").resolve().name == "busybox"
    assert pid in json.loads(rt.cmd("ps", "--format", "json", cid).stdout)


def test_exec_errors(rt: Runtime) -> None:
    cid = running(rt)
    r = rt.cmd("exec", cid, "/no/such/binary")
    assert r.returncode != 0 and "no/such/binary" in r.stderr
    rt.cmd("kill", cid, "KILL", check=True)
    deadline = time.monotonic() + 5
    while rt.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    r = rt.cmd("exec", cid, "true")
    assert r.returncode != 0 and "stopped" in r.stderr


def test_terminal_over_console_socket(rt: Runtime, tmp_path: Path) -> None:
    cfg = make_config(["sh", "-c", "tty; stty size; echo done"], terminal=True)
    cfg["process"]["consoleSize"] = {"height": 31, "width": 97}
    cs = ConsoleSocket(tmp_path / "console.sock")
    try:
        cid = rt.create(cfg, "--console-socket", str(cs.path))
        master, name = cs.receive_master()
    finally:
        cs.close()
    try:
        assert name.startswith("/dev/pts/")
        rt.cmd("start", cid, check=True)
        out = read_until(master, b"done")
    finally:
        os.close(master)
    text = out.decode().replace("\r", "")
    assert "/dev/pts/0" in text and "31 97" in text


def test_terminal_required_socket(rt: Runtime) -> None:
    cfg = make_config(["true"], terminal=True)
    b = rt.bundle(cfg)
    r = rt.cmd("create", "--bundle", str(b), rt.new_id())
    assert r.returncode != 0 and "console-socket" in r.stderr


def test_exec_tty_over_console_socket(rt: Runtime, tmp_path: Path) -> None:
    cid = running(rt)
    cs = ConsoleSocket(tmp_path / "exec.sock")
    try:
        p = subprocess.Popen(
            [
                RUNC,
                "--root",
                str(rt.root),
                "exec",
                "--tty",
                "--console-socket",
                str(cs.path),
                cid,
                "sh",
                "-c",
                "tty; echo done",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        master, _ = cs.receive_master()
    finally:
        cs.close()
    try:
        out = read_until(master, b"done")
        # Closing the master before the shell exits would SIGHUP it: wait first.
        code = p.wait(timeout=10)
    finally:
        os.close(master)
    assert code == 0
    assert b"/dev/pts/" in out


def test_run_with_terminal_through_pty(rt: Runtime) -> None:
    b = rt.bundle(make_config(["sh"], terminal=True))
    master, slave = pty.openpty()
    p = subprocess.Popen(
        [RUNC, "--root", str(rt.root), "run", "--bundle", str(b), rt.new_id()],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    try:
        # Wait for the prompt: the shell flushes input typed before it set up its line editor.
        out = read_until(master, b"# ")
        os.write(master, b"echo hi-$((40+2)); tty\n")
        out += read_until(master, b"/dev/pts/0")
        os.write(master, b"exit 5\n")
        out += read_until(master, b"\xff", timeout=3)
        assert p.wait(timeout=10) == 5
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
    assert b"hi-42" in out and b"/dev/pts/0" in out


HOOK_KINDS = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
]


def test_all_hooks_receive_state(rt: Runtime, tmp_path: Path) -> None:
    out = tmp_path / "hooks"
    out.mkdir()
    cfg = make_config(["true"])
    hooks: dict[str, list[dict[str, object]]] = {}
    for kind in HOOK_KINDS:
        # startContainer runs inside the container (after pivot_root): write into its /tmp.
        dest = f"/tmp/{kind}.json" if kind == "startContainer" else str(out / f"{kind}.json")
        hooks[kind] = [
            {
                "path": "/bin/sh",
                "args": ["sh", "-c", f'cat > {dest}; echo "$HOOKVAR" >> {dest}.env'],
                "env": ["HOOKVAR=v-" + kind],
            }
        ]
    cfg["hooks"] = hooks
    r = rt.run(cfg)
    assert r.returncode == 0, r.stderr
    for kind in HOOK_KINDS:
        base = rt.rootfs / "tmp" if kind == "startContainer" else out
        doc = json.loads((base / f"{kind}.json").read_text())
        assert doc["id"] == rt.created[-1], kind
        assert doc["bundle"] and doc["ociVersion"], kind
        if kind != "poststop":
            assert doc["pid"] > 0, kind
        assert (base / f"{kind}.json.env").read_text().strip() == f"v-{kind}"
    assert json.loads((out / "poststop.json").read_text())["status"] == "stopped"


def test_failing_hook_fails_create_and_cleans_up(rt: Runtime) -> None:
    cfg = make_config(["true"])
    cfg["hooks"] = {
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo boom >&2; exit 3"]}]
    }
    b = rt.bundle(cfg)
    cid = rt.new_id()
    r = rt.cmd("create", "--bundle", str(b), cid)
    assert r.returncode != 0
    assert "createRuntime" in r.stderr and "boom" in r.stderr
    assert not (rt.root / cid).exists()


def test_hook_timeout(rt: Runtime) -> None:
    cfg = make_config(["true"])
    cfg["hooks"] = {"prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}
    b = rt.bundle(cfg)
    t0 = time.monotonic()
    r = rt.cmd("create", "--bundle", str(b), rt.new_id())
    assert r.returncode != 0 and "timed out" in r.stderr
    assert time.monotonic() - t0 < 10
