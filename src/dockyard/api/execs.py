"""Exec routes: create, start (hijacked or detached), resize, inspect."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from dockyard.api import streams
from dockyard.api.http import HIJACKED, HttpError, Reply, Request, Response, json_response
from dockyard.api.routes import Router

if TYPE_CHECKING:
    from dockyard.api.app import App


# Keeps fire-and-forget tasks referenced until they finish.
_background: set[asyncio.Future[None]] = set()


def register(r: Router) -> None:
    r.add("POST", "/containers/{id}/exec", create)
    r.add("POST", "/exec/{id}/start", start)
    r.add("POST", "/exec/{id}/resize", resize)
    r.add("GET", "/exec/{id}/json", inspect)


async def create(app: App, req: Request) -> Reply:
    body = await req.json()
    if not isinstance(body, dict):
        raise HttpError(400, "invalid JSON: expected an object")
    exec_id = await app.run(app.execs.create, req.params["id"], body)
    return json_response({"Id": exec_id}, 201)


async def inspect(app: App, req: Request) -> Reply:
    return json_response(app.execs.get(req.params["id"]).inspect_json())


async def resize(app: App, req: Request) -> Reply:
    rec = app.execs.get(req.params["id"])
    handle = app.engine.handle(rec.container_id)
    h, w = req.qint("h", 0) or 0, req.qint("w", 0) or 0
    await app.run(handle.exec_resize, rec.id, h, w)
    return Response(201, b"", "text/plain; charset=utf-8")


async def start(app: App, req: Request) -> Reply:
    body = await req.json(default={}) or {}
    if not isinstance(body, dict):
        raise HttpError(400, "invalid JSON: expected an object")
    rec = app.execs.get(req.params["id"])
    if rec.started:
        raise HttpError(409, f"Error: Exec command {rec.id} is already running")
    handle = app.engine.handle(rec.container_id)
    tty = bool(body.get("Tty", rec.tty))
    size = body.get("ConsoleSize")

    async def make_process() -> dict[str, Any]:
        process: dict[str, Any] = await app.run(app.execs.process, rec)
        if tty and isinstance(size, list) and len(size) == 2 and all(size):
            process["consoleSize"] = {"height": int(size[0]), "width": int(size[1])}
        return process

    c = app.engine.get(rec.container_id)
    if body.get("Detach"):
        process = await make_process()
        reply = await app.run(handle.exec, rec.id, process, tty=tty, stdin=False, detach=True)
        app.execs.mark_started(rec, int(reply.get("pid") or 0))
        app.engine._event(c, f"exec_start: {' '.join(rec.cmd)}", execID=rec.id)
        _background.add(task := asyncio.ensure_future(_settle_when_done(app, rec)))
        task.add_done_callback(_background.discard)
        return Response(200, b"", None)
    if not app.engine.is_running(rec.container_id):
        raise HttpError(409, f"Container {rec.container_id} is not running")
    rec.started = True
    ctype = streams.RAW_STREAM if tty else streams.MUX_STREAM
    # Headers first, then the process: output sent along with the 101 would be swallowed
    # by clients that read the head through a buffer (urllib3 in docker-py).
    client_r, client_w = await req.hijack(ctype)
    try:
        try:
            # After the hijack: an exec that cannot start (an unknown user…) says why on its
            # stream and ends with 126, as with dockerd.
            process = await make_process()
            att = await app.run(
                handle.attach,
                stdin=rec.attach_stdin,
                stdout=rec.attach_stdout,
                stderr=rec.attach_stderr,
                exec_id=rec.id,
                process=process,
                tty=tty,
                detach_keys=rec.detach_keys or None,
            )
        except Exception as e:
            rec.error = str(e)
            app.execs.finish(rec, {"exit_code": 126})
            if not tty:
                client_w.write(streams.frame(streams.STDERR, f"{e}\n".encode()))
            else:
                client_w.write(f"{e}\r\n".encode())
            await client_w.drain()
            return HIJACKED
        app.execs.mark_started_attached(rec, att.pid or 0)
        app.engine._event(c, f"exec_start: {' '.join(rec.cmd)}", execID=rec.id)
        mon_r, mon_w = await streams.open_socket(att.detach_socket())
        if att.first:
            client_w.write(att.first)
        await streams.splice(
            client_r,
            client_w,
            mon_r,
            mon_w,
            rec.attach_stdin,
            before_close=lambda: app.run(app.execs.settle_until_done, rec),
        )
    finally:
        if not rec.done.is_set():
            await app.run(app.execs.settle_until_done, rec)
        app.engine._event(c, "exec_die", execID=rec.id, exitCode=str(rec.exit_code))
    return HIJACKED


async def _settle_when_done(app: App, rec: Any) -> None:
    await app.run(app.execs.settle_until_done, rec)
