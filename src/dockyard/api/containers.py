"""Container routes: thin handlers that parse the request, call the engine, serialise."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from dockyard.api import streams
from dockyard.api.http import (
    HIJACKED,
    HttpError,
    Reply,
    Request,
    Response,
    StreamResponse,
    json_response,
    no_content,
)
from dockyard.api.routes import Router
from dockyard.engine import filters
from dockyard.engine.containers import LIST_FILTERS
from dockyard.engine.errors import Conflict, InvalidParameter

if TYPE_CHECKING:
    from dockyard.api.app import App


def register(r: Router) -> None:
    r.add("POST", "/containers/create", create)
    r.add("GET", "/containers/json", list_containers)
    r.add("POST", "/containers/prune", prune)
    r.add("GET", "/containers/{id}/json", inspect)
    r.add("POST", "/containers/{id}/start", start)
    r.add("POST", "/containers/{id}/stop", stop)
    r.add("POST", "/containers/{id}/restart", restart)
    r.add("POST", "/containers/{id}/kill", kill)
    r.add("POST", "/containers/{id}/pause", pause)
    r.add("POST", "/containers/{id}/unpause", unpause)
    r.add("POST", "/containers/{id}/wait", wait)
    r.add("POST", "/containers/{id}/rename", rename)
    r.add("POST", "/containers/{id}/resize", resize)
    r.add("POST", "/containers/{id}/attach", attach)
    r.add("GET", "/containers/{id}/logs", logs)
    r.add("DELETE", "/containers/{id}", remove)
    r.add("GET", "/containers/{id}/top", top)
    r.add("GET", "/containers/{id}/stats", stats)
    r.add("GET", "/containers/{id}/changes", changes)
    r.add("GET", "/containers/{id}/export", export)
    r.add("POST", "/containers/{id}/update", update)
    r.add("HEAD", "/containers/{id}/archive", archive_head)
    r.add("GET", "/containers/{id}/archive", archive_get)
    r.add("PUT", "/containers/{id}/archive", archive_put)


async def create(app: App, req: Request) -> Reply:
    body = await req.json()
    if not isinstance(body, dict):
        raise HttpError(400, "invalid JSON: expected an object")
    cid, warnings = await app.run(app.engine.create, body, req.q("name") or None)
    return json_response({"Id": cid, "Warnings": warnings}, 201)


async def list_containers(app: App, req: Request) -> Reply:
    f = filters.parse(req.q("filters"), LIST_FILTERS)
    out = await app.run(
        app.engine.list_containers, req.qbool("all"), req.qint("limit"), req.qbool("size"), f
    )
    return json_response(out)


async def inspect(app: App, req: Request) -> Reply:
    return json_response(app.engine.inspect(req.params["id"], req.qbool("size")))


async def start(app: App, req: Request) -> Reply:
    await app.run(app.engine.start, req.params["id"])
    return no_content()


async def stop(app: App, req: Request) -> Reply:
    await app.run(app.engine.stop, req.params["id"], req.qint("t"), req.q("signal"))
    return no_content()


async def restart(app: App, req: Request) -> Reply:
    await app.run(app.engine.restart, req.params["id"], req.qint("t"), req.q("signal"))
    return no_content()


async def kill(app: App, req: Request) -> Reply:
    await app.run(app.engine.kill, req.params["id"], req.q("signal"))
    return no_content()


async def pause(app: App, req: Request) -> Reply:
    await app.run(app.engine.pause, req.params["id"])
    return no_content()


async def unpause(app: App, req: Request) -> Reply:
    await app.run(app.engine.unpause, req.params["id"])
    return no_content()


async def rename(app: App, req: Request) -> Reply:
    await app.run(app.engine.rename, req.params["id"], req.q("name") or "")
    return no_content()


async def remove(app: App, req: Request) -> Reply:
    if req.qbool("link"):
        raise HttpError(400, "Conflict, cannot remove the default link name of the container")
    await app.run(app.engine.remove, req.params["id"], req.qbool("force"), req.qbool("v"))
    return no_content()


async def prune(app: App, req: Request) -> Reply:
    f = filters.parse(req.q("filters"), ("label", "until"))
    deleted: list[str] = []
    reclaimed = 0
    for c in app.engine.all():
        if c.state.status not in ("exited", "created", "dead"):
            continue
        if f.get("label") and not filters.match_labels(c.config.get("Labels") or {}, f["label"]):
            continue
        try:
            size = app.engine.inspect(c.id, size=True).get("SizeRw", 0)
            await app.run(app.engine.remove, c.id, False, False)
        except Conflict:
            continue
        deleted.append(c.id)
        reclaimed += int(size or 0)
    app.events.publish("container", "prune", "", {"reclaimed": str(reclaimed)})
    return json_response({"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed})


WAIT_CONDITIONS = ("not-running", "next-exit", "removed", "")


async def wait(app: App, req: Request) -> Reply:
    """Headers go out at once (the CLI relies on it); the body comes when the wait is over."""
    cond = req.q("condition") or "not-running"
    if cond not in WAIT_CONDITIONS:
        raise HttpError(400, f"invalid condition: {cond!r}")
    c = app.engine.get(req.params["id"])
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    def on_event(ev: dict[str, Any]) -> None:
        if ev["Type"] != "container" or ev["Actor"]["ID"] != c.id:
            return
        if ev["Action"] == "destroy" or (cond != "removed" and ev["Action"] == "die"):
            loop.call_soon_threadsafe(_resolve, fut)

    app.events.subscribe(on_event, None)
    if cond == "not-running" and c.state.status not in ("running", "paused", "restarting"):
        _resolve(fut)
    if c.id not in {x.id for x in app.engine.all()}:
        _resolve(fut)

    async def body() -> AsyncIterator[bytes]:
        try:
            await fut
        finally:
            app.events.unsubscribe(on_event)
        # A removal clears the error (dockerd's SetRemoved): `run --rm` of a container
        # that failed to start reports the start's error once, not again as the wait's.
        err = {"Message": c.state.error} if c.state.error and cond != "removed" else None
        yield json.dumps({"StatusCode": c.state.exit_code, "Error": err}).encode() + b"\n"

    return StreamResponse(body())


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def resize(app: App, req: Request) -> Reply:
    h, w = req.qint("h", 0) or 0, req.qint("w", 0) or 0
    c = app.engine.get(req.params["id"])
    handle = app.engine.handle(c.id)
    await app.run(handle.resize, h, w)
    return Response(200, b"", "text/plain; charset=utf-8")


def _log_window(req: Request) -> tuple[float | None, float | None, int | None]:
    def ts(name: str) -> float | None:
        v = req.q(name)
        if not v or v == "0":
            return None
        try:
            return float(v)
        except ValueError:
            from dockyard.engine.logs import LogError, parse_timestamp

            try:
                return parse_timestamp(v) / 1e9
            except LogError:
                raise HttpError(400, f"invalid value for {name}: {v!r}") from None

    try:
        tail: int | None = int(req.q("tail") or "all")
    except ValueError:
        tail = None  # "all", and anything else that is not a number (as dockerd)
    if tail is not None and tail < 0:
        tail = None
    return ts("since"), ts("until"), tail


async def logs(app: App, req: Request) -> Reply:
    from dockyard.engine.logs import follow_logs

    c = app.engine.get(req.params["id"])
    want_out, want_err = req.qbool("stdout"), req.qbool("stderr")
    if not (want_out or want_err):
        raise HttpError(400, "You must choose at least one stream")
    since, until, tail = _log_window(req)
    follow = req.qbool("follow")
    stamps = req.qbool("timestamps")
    tty = bool(c.config.get("Tty"))
    path = app.engine.file_paths(c.id)["log"]
    cid = c.id

    async def body() -> AsyncIterator[bytes]:
        async for e in follow_logs(
            path,
            tail=tail,
            since=since,
            until=until,
            follow=follow,
            stop=lambda: not app.engine.is_running(cid),
        ):
            if (e.stream == "stdout" and not want_out) or (e.stream == "stderr" and not want_err):
                continue
            data = e.line
            if stamps:
                data = e.timestamp.encode() + b" " + data
            yield (
                data
                if tty
                else streams.frame(streams.STDERR if e.stream == "stderr" else streams.STDOUT, data)
            )

    ctype = streams.RAW_STREAM if tty else streams.MUX_STREAM
    return StreamResponse(body(), content_type=ctype)


async def attach(app: App, req: Request) -> Reply:
    c = app.engine.get(req.params["id"])
    want_in, want_out, want_err = req.qbool("stdin"), req.qbool("stdout"), req.qbool("stderr")
    stream = req.qbool("stream")
    if not stream and not req.qbool("logs"):
        raise HttpError(400, "at least one of stream or logs must be set")
    if want_in and not c.config.get("OpenStdin"):
        want_in = False
    tty = bool(c.config.get("Tty"))
    keys = req.q("detachKeys")
    loop = asyncio.get_running_loop()
    connected: asyncio.Future[_Conn] = loop.create_future()

    async def connect(state_dir: str) -> None:
        if not state_dir:  # the start failed: end the stream
            if not connected.done():
                connected.set_exception(Conflict("the container did not start"))
            return
        try:
            conn = await streams.open_attach(state_dir, want_in, want_out, want_err, keys)
        except BaseException as e:
            if not connected.done():
                connected.set_exception(e)
            raise
        if not connected.done():
            connected.set_result(conn)

    def ready(state_dir: str) -> Future[None]:
        return asyncio.run_coroutine_threadsafe(connect(state_dir), loop)

    cancel = None
    if stream and c.state.status in ("running", "paused"):
        try:
            await connect(app.engine.state_dir_of(c.id))
        except Exception as e:
            raise HttpError(409, f"cannot attach: {e}") from None
    elif stream and c.state.status in ("created", "exited"):
        cancel = app.engine.add_attach(c.id, ready)
    elif stream:
        raise HttpError(409, "You cannot attach to a stopped container, start it first")

    ctype = streams.RAW_STREAM if tty else streams.MUX_STREAM
    client_r, client_w = await req.hijack(ctype)
    if stream:
        app.engine._event(c, "attach")
    try:
        if req.qbool("logs"):
            await _replay_logs(app, c.id, client_w, want_out, want_err, tty)
        if not stream:
            return HIJACKED
        try:
            mon_r, mon_w, first = await connected
        except Exception:
            return HIJACKED
        if first:
            client_w.write(first)
        await streams.splice(client_r, client_w, mon_r, mon_w, want_in)
    finally:
        if cancel is not None:
            cancel()
        if not connected.done():
            connected.cancel()
    return HIJACKED


_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]


async def _replay_logs(
    app: App, cid: str, w: asyncio.StreamWriter, out: bool, err: bool, tty: bool
) -> None:
    from dockyard.engine.logs import follow_logs

    path = app.engine.file_paths(cid)["log"]
    async for e in follow_logs(path, follow=False):
        if (e.stream == "stdout" and not out) or (e.stream == "stderr" and not err):
            continue
        w.write(e.line if tty else streams.frame(2 if e.stream == "stderr" else 1, e.line))
    with contextlib.suppress(ConnectionError):
        await w.drain()


def _bad(msg: str) -> InvalidParameter:
    return InvalidParameter(msg)


async def top(app: App, req: Request) -> Reply:
    return json_response(await app.run(app.engine.top, req.params["id"], req.q("ps_args") or ""))


async def stats(app: App, req: Request) -> Reply:
    from dockyard.engine.resources import empty_sample

    ref = req.params["id"]
    app.engine.get(ref)
    stream = req.qbool("stream", True)
    one_shot = req.qbool("one-shot")

    async def body() -> AsyncIterator[bytes]:
        pre = empty_sample()
        if not stream and not one_shot:
            # A single reading still needs a previous one for CPU percentages.
            pre = await app.run(app.engine.stats_sample, ref)
            await asyncio.sleep(1)
        while True:
            cur = await app.run(app.engine.stats_sample, ref)
            cur["preread"] = pre["read"]
            cur["precpu_stats"] = pre["cpu_stats"]
            yield json.dumps(cur).encode() + b"\n"
            if not stream:
                return
            pre = cur
            await asyncio.sleep(1)

    return StreamResponse(body())


async def changes(app: App, req: Request) -> Reply:
    out = await app.run(app.engine.changes, req.params["id"])
    return json_response(out or None)


async def export(app: App, req: Request) -> Reply:
    ref = req.params["id"]
    app.engine.get(ref)
    body = streams.from_writer(lambda f: app.engine.export(ref, f))
    return StreamResponse(body, content_type="application/x-tar")


async def update(app: App, req: Request) -> Reply:
    body = await req.json(default={}) or {}
    if not isinstance(body, dict):
        raise HttpError(400, "invalid JSON: expected an object")
    warnings = await app.run(app.engine.update, req.params["id"], body)
    return json_response({"Warnings": warnings})


def _archive_path(req: Request) -> str:
    path = req.q("path")
    if not path:
        raise HttpError(400, "path is required")
    return path


async def archive_head(app: App, req: Request) -> Reply:
    st = await app.run(app.engine.archive_stat, req.params["id"], _archive_path(req))
    return Response(200, b"", "application/json", {"X-Docker-Container-Path-Stat": st.header()})


async def archive_get(app: App, req: Request) -> Reply:
    ref, path = req.params["id"], _archive_path(req)
    st = await app.run(app.engine.archive_stat, ref, path)
    body = streams.from_writer(lambda f: app.engine.archive_get(ref, path, f))
    return StreamResponse(
        body,
        content_type="application/x-tar",
        headers={"X-Docker-Container-Path-Stat": st.header()},
    )


async def archive_put(app: App, req: Request) -> Reply:
    from dockyard.api.images import spool

    ref, path = req.params["id"], _archive_path(req)
    app.engine.get(ref)
    f = await spool(app, req)
    try:
        await app.run(app.engine.archive_put, ref, path, f)
    finally:
        f.close()
    return Response(200, b"", None)
