"""Container verbs: run, create, start, stop, ps, logs, exec, attach, inspect, cp, ..."""

from __future__ import annotations

import os
import sys
import time

from dockyard.cli.commands.common import (
    confirm,
    filters_param,
    for_each,
    print_inspect,
    prune_report,
    q,
    render_format,
    split_repo_tag,
    write_stream,
)
from dockyard.cli.context import Context
from dockyard.cli.errors import CliError, DaemonError, UsageError
from dockyard.cli.flags import Options
from dockyard.cli.frames import DetachKeysError, parse_detach_keys
from dockyard.cli.units import ellipsis, human_duration, human_size, truncate_id
from dockyard.oci import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


# ====================================================================== run / create


def _detach_keys(spec: str) -> bytes:
    from dockyard.cli.stdio import DEFAULT_DETACH_KEYS

    if not spec:
        return DEFAULT_DETACH_KEYS
    try:
        return parse_detach_keys(spec)
    except DetachKeysError as exc:
        raise UsageError(f"invalid detach keys ({spec}) provided: {exc}") from None


def start_error_status(message: str) -> int:
    """The docker CLI's mapping of a failed start to 126/127/125."""
    if (
        "executable file not found" in message
        or "no such file or directory" in message
        or "system cannot find the file specified" in message
    ):
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


def _image_with_tag(image: str) -> str:
    _name, tag = split_repo_tag(image)
    return image if tag or "@" in image else f"{image}:latest"


def _create(ctx: Context, name: str, body: dict[str, Any], pull: str, platform: str = "") -> str:
    params = {"name": name or None, "platform": platform or None}
    if pull == "always":
        from dockyard.cli.commands.images import pull_image

        try:
            pull_image(ctx, _image_with_tag(str(body["Image"])), quiet=False, to_stderr=True)
        except DaemonError as exc:
            raise DaemonError(exc.http_status, exc.message, status=125) from None
    elif pull not in ("missing", "never"):
        raise UsageError(
            f'invalid pull option: \'{pull}\': must be one of "always", "missing" or "never"'
        )
    try:
        created = ctx.json("POST", "/containers/create", params, body)
    except DaemonError as exc:
        if exc.http_status != 404 or "image" not in exc.message.lower() or pull == "never":
            raise DaemonError(exc.http_status, exc.message, status=125) from None
        image = _image_with_tag(str(body["Image"]))
        ctx.err(f"Unable to find image '{image}' locally")
        from dockyard.cli.commands.images import pull_image

        try:
            pull_image(ctx, image, quiet=False, to_stderr=True)
        except DaemonError as pull_exc:
            raise DaemonError(pull_exc.http_status, pull_exc.message, status=125) from None
        created = ctx.json("POST", "/containers/create", params, body)
    for warning in created.get("Warnings") or []:
        ctx.err(f"WARNING: {warning}")
    return str(created["Id"])


def _create_from_opts(ctx: Context, opts: Options) -> tuple[str, dict[str, Any]]:
    from dockyard.cli.runopts import build_create_body

    name, body = build_create_body(opts, os.environ)
    cidfile = opts.str("cidfile")
    if cidfile and os.path.exists(cidfile):
        raise CliError(
            f"Container ID file found, make sure the other container isn't running or "
            f"delete {cidfile}",
            status=125,
        )
    if body.get("Tty"):
        from dockyard.cli.stdio import terminal_size

        # The initial size (API 1.42's ConsoleSize; older daemons ignore it) avoids a
        # 0x0 terminal before the first resize call lands.
        size = terminal_size()
        if size:
            body["HostConfig"]["ConsoleSize"] = list(size)
    if opts.list("publish"):
        pass  # sent as PortBindings; the daemon decides whether it can publish
    cid = _create(ctx, name, body, opts.str("pull"), opts.str("platform"))
    if opts.str("cidfile"):
        with open(opts.str("cidfile"), "x", encoding="utf-8") as fh:
            fh.write(cid)
    return cid, body


def create(ctx: Context, opts: Options) -> int:
    cid, _ = _create_from_opts(ctx, opts)
    ctx.line(cid)
    return 0


def _start(ctx: Context, cid: str) -> None:
    try:
        ctx.client.call("POST", f"/containers/{q(cid)}/start")
    except DaemonError as exc:
        status = start_error_status(exc.message)
        raise DaemonError(exc.http_status, exc.message, status=status) from None


def _stream_container(
    ctx: Context,
    cid: str,
    *,
    tty: bool,
    stdin: bool,
    keys_spec: str,
    sig_proxy: bool,
    start: bool,
    wait_condition: str | None,
    stdout: bool = True,
    stderr: bool = True,
) -> int:
    """attach → (wait) → start → stream → exit code, as the docker CLI's run does."""
    from dockyard.cli.stdio import (
        Streamer,
        on_resize,
        proxy_signals,
        raw_terminal,
        stdin_is_tty,
    )

    keys = _detach_keys(keys_spec)
    client = ctx.client
    params = {
        "stream": True,
        "stdin": stdin,
        "stdout": stdout,
        "stderr": stderr,
        "detachKeys": keys_spec or None,
    }
    conn = client.hijack("POST", f"/containers/{q(cid)}/attach", params)
    waiter = None
    if wait_condition:
        waiter = client.request("POST", f"/containers/{q(cid)}/wait", {"condition": wait_condition})
    if start:
        try:
            _start(ctx, cid)
        except DaemonError:
            conn.close()
            raise

    def resize(h: int, w: int) -> None:
        client.call("POST", f"/containers/{q(cid)}/resize", {"h": h, "w": w})

    def kill(signum: int) -> None:
        client.call("POST", f"/containers/{q(cid)}/kill", {"signal": str(signum)})

    local_tty = tty and stdin and stdin_is_tty()
    with (
        raw_terminal(0, local_tty),
        on_resize(resize, tty and (local_tty or os.isatty(1))),
        proxy_signals(kill, sig_proxy and not tty),
    ):
        detached = Streamer(conn, tty=tty, stdin=stdin, detach_keys=keys).run()
    if detached:
        return 0
    if waiter is None:
        state = ctx.json("GET", f"/containers/{q(cid)}/json").get("State", {})
        return int(state.get("ExitCode") or 0)
    raw = waiter.read()
    waiter.close()
    try:
        result = fastjson.loads(raw) if raw.strip() else {}
    except ValueError:
        result = {}
    error = (result.get("Error") or {}).get("Message") if isinstance(result, dict) else None
    if error:
        ctx.err(f"Error waiting for container: {error}")
        return 125
    return int(result.get("StatusCode", 125))


def run(ctx: Context, opts: Options) -> int:
    from dockyard.cli.stdio import stdin_is_tty

    tty = opts.bool("tty")
    interactive = opts.bool("interactive")
    detach = opts.bool("detach")
    if tty and interactive and not detach and not stdin_is_tty():
        raise CliError("the input device is not a TTY")
    keys_spec = opts.str("detach_keys")
    _detach_keys(keys_spec)
    cid, body = _create_from_opts(ctx, opts)
    if detach:
        _start(ctx, cid)
        ctx.line(cid)
        return 0
    return _stream_container(
        ctx,
        cid,
        tty=tty,
        stdin=bool(body.get("AttachStdin")),
        keys_spec=keys_spec,
        sig_proxy=opts.bool("sig_proxy"),
        start=True,
        wait_condition="removed" if opts.bool("rm") else "next-exit",
        stdout=bool(body.get("AttachStdout")),
        stderr=bool(body.get("AttachStderr")),
    )


def start(ctx: Context, opts: Options) -> int:
    if opts.bool("attach") or opts.bool("interactive"):
        if len(opts.args) > 1:
            raise CliError("you cannot start and attach multiple containers at once")
        cid = opts.args[0]
        info = ctx.json("GET", f"/containers/{q(cid)}/json")
        config = info.get("Config") or {}
        return _stream_container(
            ctx,
            str(info["Id"]),
            tty=bool(config.get("Tty")),
            stdin=opts.bool("interactive") and bool(config.get("OpenStdin")),
            keys_spec=opts.str("detach_keys"),
            sig_proxy=True,
            start=True,
            wait_condition="next-exit",
        )
    failed: list[str] = []

    def one(name: str) -> None:
        try:
            ctx.client.call("POST", f"/containers/{q(name)}/start")
        except CliError:
            failed.append(name)
            raise

    status = for_each(ctx, opts.args, one)
    if failed:
        raise CliError(f"Error: failed to start containers: {', '.join(failed)}")
    return status


def attach(ctx: Context, opts: Options) -> int:
    name = opts.args[0]
    info = ctx.json("GET", f"/containers/{q(name)}/json")
    state = info.get("State") or {}
    if not state.get("Running"):
        raise CliError("You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise CliError("You cannot attach to a paused container, unpause it first")
    config = info.get("Config") or {}
    tty = bool(config.get("Tty"))
    return _stream_container(
        ctx,
        str(info["Id"]),
        tty=tty,
        stdin=bool(config.get("OpenStdin")) and not opts.bool("no_stdin"),
        keys_spec=opts.str("detach_keys"),
        sig_proxy=opts.bool("sig_proxy"),
        start=False,
        wait_condition=None,
    )


# ====================================================================== lifecycle


def _time_params(opts: Options) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if opts.is_set("time"):
        params["t"] = opts.int("time")
    if opts.str("signal"):
        params["signal"] = opts.str("signal")
    return params


def stop(ctx: Context, opts: Options) -> int:
    params = _time_params(opts)
    return for_each(
        ctx, opts.args, lambda n: ctx.client.call("POST", f"/containers/{q(n)}/stop", params)
    )


def restart(ctx: Context, opts: Options) -> int:
    params = _time_params(opts)
    return for_each(
        ctx, opts.args, lambda n: ctx.client.call("POST", f"/containers/{q(n)}/restart", params)
    )


def kill(ctx: Context, opts: Options) -> int:
    params = {"signal": opts.str("signal") or None}
    return for_each(
        ctx, opts.args, lambda n: ctx.client.call("POST", f"/containers/{q(n)}/kill", params)
    )


def rm(ctx: Context, opts: Options) -> int:
    params = {
        "force": opts.bool("force") or None,
        "v": opts.bool("volumes") or None,
        "link": opts.bool("link") or None,
    }
    return for_each(
        ctx, opts.args, lambda n: ctx.client.call("DELETE", f"/containers/{q(n)}", params)
    )


def pause(ctx: Context, opts: Options) -> int:
    return for_each(ctx, opts.args, lambda n: ctx.client.call("POST", f"/containers/{q(n)}/pause"))


def unpause(ctx: Context, opts: Options) -> int:
    return for_each(
        ctx, opts.args, lambda n: ctx.client.call("POST", f"/containers/{q(n)}/unpause")
    )


def rename(ctx: Context, opts: Options) -> int:
    old, new = opts.args
    if not new.strip():
        raise CliError("Error: Neither old nor new names may be empty")
    try:
        ctx.client.call("POST", f"/containers/{q(old)}/rename", {"name": new})
    except DaemonError as exc:
        raise CliError(
            f"Error response from daemon: {exc.message}\n"
            f"Error: failed to rename container named {old}"
        ) from None
    return 0


def wait(ctx: Context, opts: Options) -> int:
    def one(name: str) -> str:
        result = ctx.json("POST", f"/containers/{q(name)}/wait")
        return str(result.get("StatusCode", ""))

    return for_each(ctx, opts.args, one)


def prune(ctx: Context, opts: Options) -> int:
    if not confirm(ctx, "WARNING! This will remove all stopped containers.", opts.bool("force")):
        return 0
    result = ctx.json("POST", "/containers/prune", {"filters": filters_param(opts.list("filter"))})
    prune_report(
        ctx, "Containers", result.get("ContainersDeleted"), int(result.get("SpaceReclaimed") or 0)
    )
    return 0


def update(ctx: Context, opts: Options) -> int:
    from dockyard.cli.runopts import parse_restart

    body: dict[str, Any] = {}
    fields = {
        "cpu_shares": "CpuShares",
        "cpus": "NanoCpus",
        "cpuset_cpus": "CpusetCpus",
        "cpuset_mems": "CpusetMems",
        "memory": "Memory",
        "memory_reservation": "MemoryReservation",
        "memory_swap": "MemorySwap",
        "pids_limit": "PidsLimit",
        "cpu_period": "CpuPeriod",
        "cpu_quota": "CpuQuota",
    }
    for dest, key in fields.items():
        if opts.is_set(dest):
            body[key] = opts.raw(dest)
    if opts.is_set("restart"):
        body["RestartPolicy"] = parse_restart(opts.str("restart"))
    if not body:
        raise UsageError("you must provide one or more flags when using this command")

    def one(name: str) -> None:
        result = ctx.json("POST", f"/containers/{q(name)}/update", None, body)
        for warning in (result or {}).get("Warnings") or []:
            ctx.err(f"WARNING: {warning}")

    return for_each(ctx, opts.args, one)


# ====================================================================== ps


def _created_at(ts: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S %z %Z")


def _ports(ports: list[dict[str, Any]] | None) -> str:
    out = []
    for p in sorted(ports or [], key=lambda p: (p.get("PrivatePort", 0), p.get("Type", ""))):
        private = f"{p.get('PrivatePort')}/{p.get('Type', 'tcp')}"
        if p.get("PublicPort"):
            ip = p.get("IP") or "0.0.0.0"
            host = f"[{ip}]" if ":" in ip else ip
            out.append(f"{host}:{p['PublicPort']}->{private}")
        else:
            out.append(private)
    return ", ".join(dict.fromkeys(out))


def _image_column(c: dict[str, Any], trunc: bool) -> str:
    image = str(c.get("Image") or "")
    if not image:
        return "<no image>"
    if trunc:
        image_id = str(c.get("ImageID") or "")
        if image_id and truncate_id(image_id) == truncate_id(image):
            return truncate_id(image)
        if "@" in image:
            image = image.split("@", 1)[0]
        for prefix in ("docker.io/library/", "docker.io/"):
            if image.startswith(prefix):
                image = image[len(prefix) :]
    return image


def ps_row(c: dict[str, Any], trunc: bool, now: float) -> dict[str, Any]:
    names = [n.lstrip("/") for n in c.get("Names") or []]
    if trunc:
        names = [n for n in names if "/" not in n][:1] or names[:1]
    command = str(c.get("Command") or "")
    labels: dict[str, str] = c.get("Labels") or {}
    mounts = []
    for m in c.get("Mounts") or []:
        name = str(m.get("Name") or m.get("Source") or "")
        mounts.append(ellipsis(name, 15) if trunc else name)
    networks = sorted(((c.get("NetworkSettings") or {}).get("Networks") or {}).keys())
    size_rw = int(c.get("SizeRw") or 0)
    size = human_size(size_rw, 3)
    if c.get("SizeRootFs"):
        size = f"{size} (virtual {human_size(int(c['SizeRootFs']), 3)})"
    created = float(c.get("Created") or 0)
    row: dict[str, Any] = {
        "Command": fastjson.dumps(ellipsis(command, 20) if trunc else command),
        "CreatedAt": _created_at(created),
        "ID": truncate_id(str(c.get("Id", ""))) if trunc else str(c.get("Id", "")),
        "Image": _image_column(c, trunc),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "LocalVolumes": str(sum(1 for m in c.get("Mounts") or [] if m.get("Type") == "volume")),
        "Mounts": ",".join(mounts),
        "Names": ",".join(names),
        "Networks": ",".join(networks),
        "Ports": _ports(c.get("Ports")),
        "RunningFor": human_duration(now - created) + " ago",
        "Size": size,
        "State": str(c.get("State", "")),
        "Status": str(c.get("Status", "")),
    }
    row["Label"] = lambda key: labels.get(key, "")
    return row


PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Label": "LABEL",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "LocalVolumes": "LOCAL VOLUMES",
}
PS_FORMAT = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)


def ps(ctx: Context, opts: Options) -> int:
    last = opts.int("last")
    if opts.bool("latest"):
        last = 1
    fmt = opts.str("format")
    want_size = opts.bool("size") or ".Size" in fmt or "json ." in fmt
    params = {
        "all": (opts.bool("all") or last > 0) or None,
        "limit": last if last > 0 else None,
        "size": want_size or None,
        "filters": filters_param(opts.list("filter")),
    }
    containers = ctx.json("GET", "/containers/json", params) or []
    trunc = not opts.bool("no_trunc")
    if opts.bool("quiet") and not fmt:
        for c in containers:
            ctx.line(truncate_id(c["Id"]) if trunc else c["Id"])
        return 0
    if not fmt or fmt == "table":
        fmt = PS_FORMAT + ("\t{{.Size}}" if opts.bool("size") else "")
    now = time.time()
    render_format(ctx, fmt, [ps_row(c, trunc, now) for c in containers], PS_HEADERS)
    return 0


# ====================================================================== logs / exec


def _timestamp_param(value: str, now: float) -> str | None:
    """Docker's --since/--until: a Go duration ('42m', '1h30m'), a unix time, or RFC 3339."""
    import re

    if not value:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return value
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", value)
    if parts and "".join(a + b for a, b in parts) == value:
        scale = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
        seconds = sum(float(a) * scale[b] for a, b in parts)
        return f"{now - seconds:.9f}"
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f'invalid value for "since": failed to parse value as time or duration: "{value}"'
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.timestamp():.9f}"


def _copy_output(resp: Any, tty: bool) -> None:
    from dockyard.cli.frames import STDERR, Demuxer
    from dockyard.cli.stdio import write_all

    sys.stdout.flush()
    demux = None if tty else Demuxer()
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            break
        if demux is None:
            write_all(1, chunk)
            continue
        for stream, payload in demux.feed(chunk):
            write_all(2 if stream == STDERR else 1, payload)
    resp.close()


def logs(ctx: Context, opts: Options) -> int:
    name = opts.args[0]
    info = ctx.json("GET", f"/containers/{q(name)}/json")
    tty = bool((info.get("Config") or {}).get("Tty"))
    now = time.time()
    params = {
        "stdout": True,
        "stderr": True,
        "follow": opts.bool("follow") or None,
        "timestamps": opts.bool("timestamps") or None,
        "details": opts.bool("details") or None,
        "tail": opts.str("tail") or "all",
        "since": _timestamp_param(opts.str("since"), now),
        "until": _timestamp_param(opts.str("until"), now),
    }
    resp = ctx.client.request("GET", f"/containers/{q(name)}/logs", params)
    _copy_output(resp, tty)
    return 0


def exec_(ctx: Context, opts: Options) -> int:
    from dockyard.cli.runopts import expand_env, read_kv_file
    from dockyard.cli.stdio import (
        Streamer,
        on_resize,
        raw_terminal,
        stdin_is_tty,
        terminal_size,
    )

    container, *command = opts.args
    tty, interactive, detach = opts.bool("tty"), opts.bool("interactive"), opts.bool("detach")
    if tty and interactive and not detach and not stdin_is_tty():
        raise CliError("the input device is not a TTY")
    env: list[str] = []
    for path in opts.list("env_file"):
        env += read_kv_file(path)
    env = expand_env(env + opts.list("env"), os.environ)
    keys_spec = opts.str("detach_keys")
    keys = _detach_keys(keys_spec)
    body: dict[str, Any] = {
        "User": opts.str("user"),
        "Privileged": opts.bool("privileged"),
        "Tty": tty,
        "AttachStdin": interactive and not detach,
        "AttachStdout": not detach,
        "AttachStderr": not detach,
        "Detach": detach,
        "DetachKeys": keys_spec,
        "Env": env or None,
        "WorkingDir": opts.str("workdir"),
        "Cmd": command,
    }
    console = terminal_size() if tty else None
    if console:
        body["ConsoleSize"] = list(console)
    created = ctx.json("POST", f"/containers/{q(container)}/exec", None, body)
    exec_id = str(created["Id"])
    client = ctx.client
    if detach:
        client.call("POST", f"/exec/{exec_id}/start", None, {"Detach": True, "Tty": tty})
        return 0
    start_body: dict[str, Any] = {"Detach": False, "Tty": tty}
    if tty and console:
        start_body["ConsoleSize"] = list(console)  # API 1.42+; older daemons ignore it
    conn = client.hijack("POST", f"/exec/{exec_id}/start", None, start_body)

    def resize(h: int, w: int) -> None:
        client.call("POST", f"/exec/{exec_id}/resize", {"h": h, "w": w})

    local_tty = tty and interactive and stdin_is_tty()
    with raw_terminal(0, local_tty), on_resize(resize, tty and (local_tty or os.isatty(1))):
        detached = Streamer(conn, tty=tty, stdin=interactive, detach_keys=keys).run()
    if detached:
        return 0
    result = ctx.json("GET", f"/exec/{exec_id}/json")
    code = result.get("ExitCode")
    return int(code) if code is not None else 0


# ====================================================================== inspect family


def inspect(ctx: Context, opts: Options) -> int:
    kind = opts.str("type")
    if kind and kind not in ("container", "image", "volume"):
        raise CliError(f'"{kind}" is not a valid value for --type')
    found: list[Any] = []
    errors: list[str] = []
    for name in opts.args:
        obj = _inspect_one(ctx, name, kind, opts.bool("size"))
        if obj is None:
            errors.append(f"Error: No such {kind or 'object'}: {name}")
        else:
            found.append(obj)
    if found or not opts.str("format"):
        print_inspect(ctx, found, opts.str("format"))
    # As Docker: what was found first, then one line per name that was not.
    for line in errors:
        ctx.err(line)
    return 1 if errors else 0


def _inspect_one(ctx: Context, name: str, kind: str, size: bool) -> Any:
    attempts = [
        ("container", f"/containers/{q(name)}/json", {"size": size or None}),
        ("image", f"/images/{q(name)}/json", None),
        ("volume", f"/volumes/{q(name)}", None),
    ]
    for what, path, params in attempts:
        if kind and kind != what:
            continue
        try:
            return ctx.json("GET", path, params)
        except DaemonError as exc:
            if exc.http_status != 404:
                raise
    return None


def top(ctx: Context, opts: Options) -> int:
    from dockyard.cli.table import simple_table

    name, *ps_args = opts.args
    result = ctx.json("GET", f"/containers/{q(name)}/top", {"ps_args": " ".join(ps_args) or None})
    rows = [[str(c) for c in proc] for proc in result.get("Processes") or []]
    ctx.out(simple_table(result.get("Titles") or [], rows, minwidth=20))
    return 0


def diff(ctx: Context, opts: Options) -> int:
    changes = ctx.json("GET", f"/containers/{q(opts.args[0])}/changes") or []
    kinds = {0: "C", 1: "A", 2: "D"}
    for change in changes:
        ctx.line(f"{kinds.get(change.get('Kind'), '?')} {change.get('Path')}")
    return 0


def export(ctx: Context, opts: Options) -> int:
    if not opts.str("output") and os.isatty(1):
        raise CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    resp = ctx.client.request("GET", f"/containers/{q(opts.args[0])}/export")
    write_stream(ctx, resp, opts.str("output"), "export")
    return 0


def commit(ctx: Context, opts: Options) -> int:
    container = opts.args[0]
    repo, tag = ("", "")
    if len(opts.args) > 1:
        repo, tag = split_repo_tag(opts.args[1])
    params = {
        "container": container,
        "repo": repo or None,
        "tag": tag or None,
        "comment": opts.str("message") or None,
        "author": opts.str("author") or None,
        "pause": opts.bool("pause"),
        "changes": opts.list("change") or None,
    }
    result = ctx.json("POST", "/commit", params, {})
    ctx.line(str(result.get("Id", "")))
    return 0


def port(ctx: Context, opts: Options) -> int:
    info = ctx.json("GET", f"/containers/{q(opts.args[0])}/json")
    ports: dict[str, Any] = (info.get("NetworkSettings") or {}).get("Ports") or {}
    if len(opts.args) == 2:
        want = opts.args[1] if "/" in opts.args[1] else opts.args[1] + "/tcp"
        bindings = ports.get(want)
        if not bindings:
            raise CliError(f"Error: No public port '{want}' published for {opts.args[0]}")
        for b in bindings:
            ctx.line(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}")
        return 0
    for key in sorted(ports):
        for b in ports[key] or []:
            ctx.line(f"{key} -> {b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}")
    return 0


# ====================================================================== stats


def _stats_row(name: str, s: dict[str, Any]) -> dict[str, Any]:
    from dockyard.cli.units import bytes_size

    cpu = s.get("cpu_stats") or {}
    pre = s.get("precpu_stats") or {}
    cpu_delta = ((cpu.get("cpu_usage") or {}).get("total_usage") or 0) - (
        (pre.get("cpu_usage") or {}).get("total_usage") or 0
    )
    sys_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = (
        cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    )
    cpu_pct = cpu_delta / sys_delta * online * 100.0 if cpu_delta > 0 and sys_delta > 0 else 0.0
    mem = s.get("memory_stats") or {}
    usage = int(mem.get("usage") or 0)
    extra = mem.get("stats") or {}
    cache = extra.get("total_inactive_file", extra.get("inactive_file", 0)) or 0
    if cache < usage:
        usage -= int(cache)
    limit = int(mem.get("limit") or 0)
    mem_pct = usage / limit * 100.0 if limit else 0.0
    rx = tx = 0
    for net in (s.get("networks") or {}).values():
        rx += int(net.get("rx_bytes") or 0)
        tx += int(net.get("tx_bytes") or 0)
    blk_r = blk_w = 0
    for entry in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        # The docker CLI looks at the first letter only: v1 says "Read", v2 "read".
        op = str(entry.get("op") or " ")[0].lower()
        if op == "r":
            blk_r += int(entry.get("value") or 0)
        elif op == "w":
            blk_w += int(entry.get("value") or 0)
    cid = str(s.get("id") or name)
    return {
        "ID": cid[:12],
        "Container": name,
        "Name": str(s.get("name") or name).lstrip("/"),
        "CPUPerc": f"{cpu_pct:.2f}%",
        "MemUsage": f"{bytes_size(usage)} / {bytes_size(limit)}",
        "MemPerc": f"{mem_pct:.2f}%",
        "NetIO": f"{human_size(rx, 3)} / {human_size(tx, 3)}",
        "BlockIO": f"{human_size(blk_r, 3)} / {human_size(blk_w, 3)}",
        "PIDs": str((s.get("pids_stats") or {}).get("current") or 0),
    }


STATS_HEADERS = {
    "ID": "CONTAINER ID",
    "Container": "CONTAINER",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}
STATS_FORMAT = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t"
    "{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
)


def stats(ctx: Context, opts: Options) -> int:
    import threading

    names = list(opts.args)
    if not names:
        listed = ctx.json("GET", "/containers/json", {"all": opts.bool("all") or None}) or []
        names = [str(c["Id"]) for c in listed]
    fmt = opts.str("format") or STATS_FORMAT
    if opts.bool("no_stream"):
        rows = []
        failed = False
        for name in names:
            try:
                sample = ctx.json("GET", f"/containers/{q(name)}/stats", {"stream": False})
            except DaemonError as exc:
                ctx.err(str(exc))
                failed = True
                continue
            rows.append(_stats_row(name, sample))
        render_format(ctx, fmt, rows, STATS_HEADERS)
        return 1 if failed else 0

    latest: dict[str, dict[str, Any]] = {}

    def follow(name: str) -> None:
        try:
            resp = ctx.client.request("GET", f"/containers/{q(name)}/stats", {"stream": True})
            for sample in ctx.client.stream_json(resp):
                latest[name] = sample
        except (DaemonError, OSError):
            latest.pop(name, None)

    for name in names:
        threading.Thread(target=follow, args=(name,), daemon=True).start()
    clear = os.isatty(1)
    while True:
        time.sleep(1.0)
        rows = [_stats_row(n, latest[n]) for n in names if n in latest]
        if clear:
            ctx.out("\033[2J\033[H")
        render_format(ctx, fmt, rows, STATS_HEADERS)
        sys.stdout.flush()


# ====================================================================== cp


def _split_cp_arg(arg: str) -> tuple[str, str]:
    """'name:/path' -> (name, path); local paths (absolute, ./, or without ':') -> ('', arg)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return "", arg
    name, _, path = arg.partition(":")
    return name, path


def cp(ctx: Context, opts: Options) -> int:
    src, dst = opts.args
    src_c, src_path = _split_cp_arg(src)
    dst_c, dst_path = _split_cp_arg(dst)
    if src_c and dst_c:
        raise CliError("copying between containers is not supported")
    if not src_c and not dst_c:
        raise CliError("must specify at least one container source")
    from dockyard.cli import copying

    if src_c:
        copying.from_container(
            ctx.client, src_c, src_path, dst_path, follow=opts.bool("follow_link")
        )
    else:
        copying.to_container(
            ctx.client,
            dst_c,
            dst_path,
            src_path,
            follow=opts.bool("follow_link"),
            archive=opts.bool("archive"),
        )
    return 0
