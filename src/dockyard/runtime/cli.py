"""Entry point of `dockyard-runc`: runc's command line, one small function per verb."""

from __future__ import annotations

import os
import sys

from dockyard.runtime import args as argmod
from dockyard.runtime.errors import RuntimeErr, UsageError
from dockyard.runtime.log import Log
from dockyard.runtime.state import DEFAULT_ROOT
from dockyard.runtime.trace import mark

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn

VERSION = "0.1.0"

GLOBAL_FLAGS = {
    "root": "str",
    "log": "str",
    "log-format": "str",
    "debug": "bool",
    "systemd-cgroup": "bool",
    "rootless": "str",
    "criu": "str",
    "version": "bool",
    "help": "bool",
}
GLOBAL_ALIASES = {"v": "version", "h": "help"}

USAGE = """usage: dockyard-runc [global flags] COMMAND [flags] [args]

an OCI runtime compatible with runc

commands: create start run state kill delete exec list ps pause resume update spec features

global flags: --root DIR (default /run/dockyard-runc), --log FILE, --log-format text|json,
              --debug, --systemd-cgroup, --version
"""


class Ctx:
    def __init__(self, g: argmod.Parsed) -> None:
        self.root = g.get_str("root") or DEFAULT_ROOT
        fmt = g.get_str("log-format") or "text"
        if fmt not in ("text", "json"):
            raise UsageError(f"invalid log format {fmt!r} (text or json)")
        self.log = Log(g.get_str("log"), fmt, g.get_bool("debug"))
        self.systemd = g.get_bool("systemd-cgroup")

    def use_systemd(self) -> bool:
        if not self.systemd:
            return False
        from dockyard.runtime.cgroup import systemd_running

        if not systemd_running():
            # The slice:prefix:name path still maps to a cgroupfs directory; we make it ourselves.
            self.log.warning("systemd is not running; --systemd-cgroup uses cgroupfs")
        return True


def _one_id(p: argmod.Parsed, verb: str, extra_ok: int = 0) -> str:
    if not p.args:
        raise UsageError(f"{verb}: a container id is required")
    if len(p.args) > 1 + extra_ok:
        raise UsageError(f"{verb}: unexpected arguments {p.args[1:]}")
    return p.args[0]


CREATE_FLAGS = {
    "bundle": "str",
    "pid-file": "str",
    "console-socket": "str",
    "no-pivot": "bool",
    "no-new-keyring": "bool",
    "preserve-fds": "int",
    "pidfd-socket": "str",
}


def cmd_create(ctx: Ctx, argv: list[str]) -> int:
    from dockyard.runtime.create import CreateOptions, create

    p = argmod.parse(argv, CREATE_FLAGS, {"b": "bundle"})
    cid = _one_id(p, "create")
    create(
        CreateOptions(
            root=ctx.root,
            cid=cid,
            bundle=p.get_str("bundle") or os.getcwd(),
            pid_file=_abs(p.get_str("pid-file")),
            console_socket=p.get_str("console-socket"),
            no_pivot=p.get_bool("no-pivot"),
            no_new_keyring=p.get_bool("no-new-keyring"),
            preserve_fds=p.get_int("preserve-fds"),
            systemd=ctx.use_systemd(),
        )
    )
    return 0


def _abs(path: str | None) -> str | None:
    return os.path.abspath(path) if path else None


def cmd_start(ctx: Ctx, argv: list[str]) -> int:
    from dockyard.runtime.lifecycle import start

    start(ctx.root, _one_id(argmod.parse(argv, {}), "start"))
    return 0


def cmd_state(ctx: Ctx, argv: list[str]) -> int:
    import json

    from dockyard.runtime import state as st_mod

    cid = _one_id(argmod.parse(argv, {}), "state")
    print(json.dumps(st_mod.oci_state(ctx.root, st_mod.load(ctx.root, cid)), indent=2))
    return 0


def cmd_kill(ctx: Ctx, argv: list[str]) -> int:
    from dockyard.linux.process import SIGTERM
    from dockyard.runtime.lifecycle import kill, parse_signal

    p = argmod.parse(argv, {"all": "bool", "a": "bool"})
    cid = _one_id(p, "kill", extra_ok=1)
    sig = parse_signal(p.args[1]) if len(p.args) > 1 else SIGTERM
    kill(ctx.root, cid, sig, p.get_bool("all") or p.get_bool("a"))
    return 0


def cmd_delete(ctx: Ctx, argv: list[str]) -> int:
    from dockyard.runtime.lifecycle import delete

    p = argmod.parse(argv, {"force": "bool"}, {"f": "force"})
    delete(ctx.root, _one_id(p, "delete"), p.get_bool("force"))
    return 0


def cmd_run(ctx: Ctx, argv: list[str]) -> int:
    from dockyard.runtime.run import RunOptions, run

    flags = {**CREATE_FLAGS, "detach": "bool", "keep": "bool"}
    p = argmod.parse(argv, flags, {"b": "bundle", "d": "detach"})
    cid = _one_id(p, "run")
    return run(
        RunOptions(
            root=ctx.root,
            cid=cid,
            bundle=p.get_str("bundle") or os.getcwd(),
            pid_file=_abs(p.get_str("pid-file")),
            console_socket=p.get_str("console-socket"),
            no_pivot=p.get_bool("no-pivot"),
            no_new_keyring=p.get_bool("no-new-keyring"),
            preserve_fds=p.get_int("preserve-fds"),
            systemd=ctx.use_systemd(),
            detach=p.get_bool("detach"),
            keep=p.get_bool("keep"),
        )
    )


EXEC_FLAGS = {
    "process": "str",
    "tty": "bool",
    "cwd": "str",
    "env": "list",
    "user": "str",
    "additional-gids": "list",
    "cap": "list",
    "no-new-privs": "bool",
    "detach": "bool",
    "pid-file": "str",
    "console-socket": "str",
    "preserve-fds": "int",
    "apparmor": "str",
    "process-label": "str",
    "ignore-paused": "bool",
    "cgroup": "list",
    "pidfd-socket": "str",
}


def cmd_exec(ctx: Ctx, argv: list[str]) -> int:
    from dockyard.runtime.run import exec_and_wait

    p = argmod.parse(
        argv,
        EXEC_FLAGS,
        {
            "p": "process",
            "t": "tty",
            "e": "env",
            "u": "user",
            "c": "cap",
            "d": "detach",
            "g": "additional-gids",
        },
    )
    if not p.args:
        raise UsageError("exec: a container id is required")
    from dockyard.runtime.execute import ExecOptions

    try:
        gids = [int(g) for item in p.get_list("additional-gids") for g in item.split(",") if g]
    except ValueError:
        raise UsageError("--additional-gids takes numeric gids") from None
    o = ExecOptions(
        root=ctx.root,
        cid=p.args[0],
        process_file=p.get_str("process"),
        args=p.args[1:],
        tty=p.get_bool("tty"),
        cwd=p.get_str("cwd"),
        env=p.get_list("env"),
        user=p.get_str("user"),
        additional_gids=gids,
        caps=p.get_list("cap"),
        no_new_privs=p.get_bool("no-new-privs"),
        detach=p.get_bool("detach"),
        pid_file=_abs(p.get_str("pid-file")),
        console_socket=p.get_str("console-socket"),
        preserve_fds=p.get_int("preserve-fds"),
    )
    return exec_and_wait(o)


def cmd_list(ctx: Ctx, argv: list[str]) -> int:
    import json

    from dockyard.runtime import state as st_mod

    p = argmod.parse(argv, {"format": "str", "quiet": "bool"}, {"f": "format", "q": "quiet"})
    docs = []
    for cid in st_mod.list_ids(ctx.root):
        try:
            docs.append(st_mod.oci_state(ctx.root, st_mod.load(ctx.root, cid)))
        except RuntimeErr:
            continue
    if p.get_bool("quiet"):
        for d in docs:
            print(d["id"])
    elif (p.get_str("format") or "table") == "json":
        print(json.dumps(docs))
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [
            (d["id"], str(d["pid"]), d["status"], d["bundle"], d["created"], d["owner"] or "root")
            for d in docs
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for r in rows:
            print("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


def cmd_ps(ctx: Ctx, argv: list[str]) -> int:
    import json

    from dockyard.runtime.lifecycle import pids

    p = argmod.parse(argv, {"format": "str"}, {"f": "format"})
    cid = _one_id(p, "ps", extra_ok=1000)
    found = pids(ctx.root, cid)
    if (p.get_str("format") or "table") == "json":
        print(json.dumps(found))
        return 0
    import subprocess

    out = subprocess.run(
        ["ps", "-ef", *p.args[1:]], capture_output=True, text=True, check=False
    ).stdout
    lines = out.splitlines()
    if lines:
        print(lines[0])
        col = lines[0].split().index("PID") if "PID" in lines[0].split() else 1
        want = set(found)
        for line in lines[1:]:
            fields = line.split()
            if len(fields) > col and fields[col].isdigit() and int(fields[col]) in want:
                print(line)
    return 0


def cmd_pause(ctx: Ctx, argv: list[str]) -> int:
    from dockyard.runtime.lifecycle import pause

    pause(ctx.root, _one_id(argmod.parse(argv, {}), "pause"))
    return 0


def cmd_resume(ctx: Ctx, argv: list[str]) -> int:
    from dockyard.runtime.lifecycle import resume

    resume(ctx.root, _one_id(argmod.parse(argv, {}), "resume"))
    return 0


UPDATE_FLAGS = {
    "resources": "str",
    "memory": "str",
    "memory-swap": "str",
    "memory-reservation": "str",
    "kernel-memory": "str",
    "kernel-memory-tcp": "str",
    "cpu-quota": "int",
    "cpu-period": "int",
    "cpu-shares": "int",
    "cpu-rt-period": "int",
    "cpu-rt-runtime": "int",
    "cpuset-cpus": "str",
    "cpuset-mems": "str",
    "pids-limit": "int",
    "blkio-weight": "int",
    "l3-cache-schema": "str",
    "mem-bw-schema": "str",
}


def cmd_update(ctx: Ctx, argv: list[str]) -> int:
    from dockyard.runtime.lifecycle import update
    from dockyard.runtime.resources import resources_from_flags

    p = argmod.parse(argv, UPDATE_FLAGS, {"r": "resources"})
    cid = _one_id(p, "update")
    update(ctx.root, cid, resources_from_flags(p))
    return 0


def cmd_spec(ctx: Ctx, argv: list[str]) -> int:
    import json

    from dockyard.runtime.defaults import default_spec

    p = argmod.parse(argv, {"bundle": "str", "rootless": "bool"}, {"b": "bundle"})
    path = os.path.join(p.get_str("bundle") or ".", "config.json")
    if os.path.exists(path):
        raise UsageError(f"file {path} exists; remove it first")
    with open(path, "w") as f:
        json.dump(default_spec(), f, indent="\t")
    return 0


def cmd_features(ctx: Ctx, argv: list[str]) -> int:
    import json

    from dockyard.runtime.defaults import features

    argmod.parse(argv, {})
    print(json.dumps(features(), indent=4))
    return 0


COMMANDS: dict[str, Callable[[Ctx, list[str]], int]] = {
    "create": cmd_create,
    "start": cmd_start,
    "state": cmd_state,
    "kill": cmd_kill,
    "delete": cmd_delete,
    "run": cmd_run,
    "exec": cmd_exec,
    "list": cmd_list,
    "ps": cmd_ps,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "update": cmd_update,
    "spec": cmd_spec,
    "features": cmd_features,
}


def main(argv: list[str] | None = None) -> int:
    """Run one command. Without argv (the program itself, e.g. pip's console script)
    the process then ends at once, like entry(); with argv it returns the exit status."""
    if argv is None:
        entry()
    return _main(argv)


def _main(argv: list[str] | None) -> int:
    mark("main")
    argv = sys.argv[1:] if argv is None else argv
    log = Log()
    try:
        g = argmod.parse(argv, GLOBAL_FLAGS, GLOBAL_ALIASES)
        if g.get_bool("version"):
            print(f"dockyard-runc version {VERSION}\nspec: 1.0.2")
            return 0
        if g.get_bool("help") or not g.args:
            print(USAGE, end="")
            return 0 if g.get_bool("help") else 1
        ctx = Ctx(g)
        log = ctx.log
        verb, rest = g.args[0], g.args[1:]
        if verb in ("help", "-h", "--help"):
            print(USAGE, end="")
            return 0
        fn = COMMANDS.get(verb)
        if fn is None:
            raise UsageError(f"unknown command {verb!r}")
        return fn(ctx, rest)
    except RuntimeErr as e:
        log.error(str(e))
        return 1
    except OSError as e:
        log.error(str(e))
        return 1
    except KeyboardInterrupt:
        return 130


def entry(argv: list[str] | None = None) -> NoReturn:
    """The program's entry point: main, then exit without the interpreter's teardown
    (freeing every module and object costs milliseconds on every container start; no
    atexit work is registered on these paths). With argv, the same for a forked copy of
    a process that preloaded the runtime (see engine.monitor.inprocess)."""
    code = _main(argv)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1
    os._exit(code)


# What the verbs import lazily (each command pays only for its own); a long-lived process
# that forks runtime commands imports them once instead.
LAZY_MODULES = (
    "dockyard.linux.capabilities",
    "dockyard.linux.cgroups",
    "dockyard.linux.mounts",
    "dockyard.linux.namespaces",
    "dockyard.linux.paths",
    "dockyard.linux.seccomp",
    "dockyard.linux.terminal",
    "dockyard.runtime.cgroup",
    "dockyard.runtime.config",
    "dockyard.runtime.create",
    "dockyard.runtime.execute",
    "dockyard.runtime.finalize",
    "dockyard.runtime.hooks",
    "dockyard.runtime.lifecycle",
    "dockyard.runtime.mountopts",
    "dockyard.runtime.procspec",
    "dockyard.runtime.rootfs",
    "dockyard.runtime.sync",
    "dockyard.runtime.tty",
    "hashlib",
    "json",
    "select",
    "socket",
)


def preload() -> None:
    import importlib

    for name in LAZY_MODULES:
        importlib.import_module(name)
    import contextlib

    from dockyard.linux import seccomp

    # dlopen once (~1 ms of every create otherwise); without libseccomp, a create that
    # asks for a filter says so itself.
    with contextlib.suppress(seccomp.SeccompError):
        seccomp.preload()


if __name__ == "__main__":
    entry()
