"""Image verbs: images, rmi, inspect, history, tag, save, load, import, prune, bootstrap,
pull, push, search, login, logout."""

from __future__ import annotations

import json
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
from dockyard.cli.errors import CliError, DaemonError
from dockyard.cli.flags import Options
from dockyard.cli.units import ellipsis, human_duration, human_size, truncate_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def print_progress(ctx: Context, resp: Any, quiet: bool = False, to_stderr: bool = False) -> None:
    """Show a JSON progress stream as the docker CLI does without a terminal: status lines
    and `stream` text; an `error` message ends the command with that error."""
    write = ctx.err if to_stderr else ctx.line
    for msg in ctx.client.stream_json(resp):
        if not isinstance(msg, dict):
            continue
        if msg.get("error") or msg.get("errorDetail"):
            detail = msg.get("errorDetail") or {}
            raise DaemonError(500, str(msg.get("error") or detail.get("message")))
        if quiet:
            continue
        if "stream" in msg:
            text = str(msg["stream"])
            (sys.stderr if to_stderr else sys.stdout).write(text)
            continue
        status = msg.get("status")
        if status and not msg.get("progressDetail"):
            ident = msg.get("id")
            write(f"{ident}: {status}" if ident else str(status))


# ---------------------------------------------------------------------- listing


def familiar_name(repo: str) -> str:
    """Docker's short form: docker.io/library/busybox -> busybox, docker.io/a/b -> a/b."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if repo.startswith(prefix) and "/" not in repo[len(prefix) :].split("/", 1)[0]:
            return repo[len(prefix) :]
    return repo


def image_rows(images: list[dict[str, Any]], trunc: bool, now: float) -> list[dict[str, Any]]:
    rows = []
    for img in images:
        tags = [t for t in img.get("RepoTags") or [] if t != "<none>:<none>"] or ["<none>:<none>"]
        digests = [d for d in img.get("RepoDigests") or [] if d != "<none>@<none>"]
        digest = digests[0].split("@", 1)[1] if digests else "<none>"
        ident = str(img.get("Id", ""))
        created = float(img.get("Created") or 0)
        for ref in tags:
            repo, tag = split_repo_tag(ref) if ref != "<none>:<none>" else ("<none>", "<none>")
            repo = familiar_name(repo)
            from datetime import datetime

            rows.append(
                {
                    "Repository": repo,
                    "Tag": tag or "<none>",
                    "ID": truncate_id(ident) if trunc else ident,
                    "Digest": digest,
                    "CreatedSince": human_duration(now - created) + " ago",
                    "CreatedAt": datetime.fromtimestamp(created)
                    .astimezone()
                    .strftime("%Y-%m-%d %H:%M:%S %z %Z"),
                    "Size": human_size(int(img.get("Size") or 0), 3),
                    "Containers": str(img.get("Containers", "N/A"))
                    if img.get("Containers", -1) != -1
                    else "N/A",
                    "VirtualSize": human_size(
                        int(img.get("VirtualSize") or img.get("Size") or 0), 3
                    ),
                    "SharedSize": "N/A",
                    "UniqueSize": "N/A",
                }
            )
    return rows


IMAGE_HEADERS = {
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "ID": "IMAGE ID",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Containers": "CONTAINERS",
    "VirtualSize": "VIRTUAL SIZE",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}


def images(ctx: Context, opts: Options) -> int:
    filters = list(opts.list("filter"))
    if opts.args:
        filters.append(f"reference={opts.args[0]}")
    listed = (
        ctx.json(
            "GET",
            "/images/json",
            {"all": opts.bool("all") or None, "filters": filters_param(filters)},
        )
        or []
    )
    trunc = not opts.bool("no_trunc")
    fmt = opts.str("format")
    if opts.bool("quiet") and not fmt:
        seen: dict[str, None] = {}
        for img in listed:
            seen[truncate_id(img["Id"]) if trunc else img["Id"]] = None
        for ident in seen:
            ctx.line(ident)
        return 0
    if not fmt or fmt == "table":
        cols = ["{{.Repository}}", "{{.Tag}}"]
        if opts.bool("digests"):
            cols.append("{{.Digest}}")
        cols += ["{{.ID}}", "{{.CreatedSince}}", "{{.Size}}"]
        fmt = "table " + "\t".join(cols)
    render_format(ctx, fmt, image_rows(listed, trunc, time.time()), IMAGE_HEADERS)
    return 0


def inspect(ctx: Context, opts: Options) -> int:
    found: list[Any] = []
    errors: list[str] = []
    for name in opts.args:
        try:
            found.append(ctx.json("GET", f"/images/{q(name)}/json"))
        except DaemonError as exc:
            if exc.http_status != 404:
                raise
            errors.append(str(exc))
    if found or not opts.str("format"):
        print_inspect(ctx, found, opts.str("format"))
    # As Docker: what was found first, then one line per name that was not.
    for line in errors:
        ctx.err(line)
    return 1 if errors else 0


def rmi(ctx: Context, opts: Options) -> int:
    params = {"force": opts.bool("force") or None, "noprune": opts.bool("no_prune") or None}

    def one(name: str) -> str:
        result = ctx.json("DELETE", f"/images/{q(name)}", params) or []
        lines = []
        for item in result:
            for key in ("Untagged", "Deleted"):
                if key in item:
                    lines.append(f"{key}: {item[key]}")
        return "\n".join(lines)

    return for_each(ctx, opts.args, one)


EPOCH_2000 = 946684800


def rfc3339(ts: float) -> str:
    """Go's time.Unix(ts, 0).Format(time.RFC3339) in local time ('Z' for UTC)."""
    from datetime import datetime

    text = datetime.fromtimestamp(int(ts)).astimezone().isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def history(ctx: Context, opts: Options) -> int:
    entries = ctx.json("GET", f"/images/{q(opts.args[0])}/history") or []
    trunc = not opts.bool("no_trunc")
    human = opts.bool("human")
    now = time.time()
    rows = []
    for e in entries:
        ident = str(e.get("Id") or "<missing>")
        if ident != "<missing>" and trunc:
            ident = truncate_id(ident)
        created = float(e.get("Created") or 0)
        created_by = str(e.get("CreatedBy") or "").replace("\t", " ")
        if trunc:
            created_by = ellipsis(created_by, 45)
        size = int(e.get("Size") or 0)
        created_at = rfc3339(created)
        rows.append(
            {
                "ID": ident,
                # Docker shows no age for dates up to 2000-01-01 (reproducible builds).
                "CreatedSince": created_at
                if not human
                else (human_duration(now - created) + " ago" if created > EPOCH_2000 else "N/A"),
                "CreatedAt": created_at,
                "CreatedBy": created_by,
                "Size": human_size(size, 3) if human else str(size),
                "Comment": str(e.get("Comment") or ""),
            }
        )
    if opts.bool("quiet"):
        for row in rows:
            ctx.line(row["ID"])
        return 0
    created_col = "{{.CreatedSince}}" if human else "{{.CreatedAt}}"
    fmt = opts.str("format") or (
        f"table {{{{.ID}}}}\t{created_col}\t{{{{.CreatedBy}}}}\t{{{{.Size}}}}\t{{{{.Comment}}}}"
    )
    headers = {
        "ID": "IMAGE",
        "CreatedSince": "CREATED",
        "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY",
        "Size": "SIZE",
        "Comment": "COMMENT",
    }
    render_format(ctx, fmt, rows, headers)
    return 0


def tag(ctx: Context, opts: Options) -> int:
    source, target = opts.args
    repo, tag_ = split_repo_tag(target)
    ctx.client.call("POST", f"/images/{q(source)}/tag", {"repo": repo, "tag": tag_ or "latest"})
    return 0


def save(ctx: Context, opts: Options) -> int:
    output = opts.str("output")
    if not output and os.isatty(1):
        raise CliError("Cowardly refusing to save to a terminal. Use the -o flag or redirect")
    resp = ctx.client.request("GET", "/images/get", {"names": list(opts.args)})
    write_stream(ctx, resp, output, "save")
    return 0


def load(ctx: Context, opts: Options) -> int:
    path = opts.str("input")
    if not path and os.isatty(0):
        raise CliError("requested load from stdin, but stdin is empty")
    source = open(path, "rb") if path else sys.stdin.buffer  # noqa: SIM115
    try:
        headers = {"Content-Type": "application/x-tar"}
        if path:
            headers["Content-Length"] = str(os.fstat(source.fileno()).st_size)
        resp = ctx.client.request(
            "POST", "/images/load", {"quiet": opts.bool("quiet")}, data=source, headers=headers
        )
        print_progress(ctx, resp)
    finally:
        if path:
            source.close()
    return 0


def import_(ctx: Context, opts: Options) -> int:
    source = opts.args[0]
    repo, tag_ = split_repo_tag(opts.args[1]) if len(opts.args) > 1 else ("", "")
    params: dict[str, Any] = {
        "repo": repo or None,
        "tag": tag_ or None,
        "message": opts.str("message") or None,
        "changes": opts.list("change") or None,
        "platform": opts.str("platform") or None,
    }
    headers = {"Content-Type": "application/x-tar"}
    body: Any = None
    if source == "-":
        params["fromSrc"] = "-"
        body = sys.stdin.buffer
    elif "://" in source:
        params["fromSrc"] = source
    else:
        params["fromSrc"] = "-"
        try:
            body = open(source, "rb")  # noqa: SIM115
        except OSError as exc:
            raise CliError(f"open {source}: {(exc.strerror or str(exc)).lower()}") from None
        headers["Content-Length"] = str(os.fstat(body.fileno()).st_size)
    try:
        resp = ctx.client.request("POST", "/images/create", params, data=body, headers=headers)
        print_progress(ctx, resp)
    finally:
        if body is not None and source != "-":
            body.close()
    return 0


def prune(ctx: Context, opts: Options) -> int:
    warning = (
        "WARNING! This will remove all images without at least one container associated to them."
        if opts.bool("all")
        else "WARNING! This will remove all dangling images."
    )
    if not confirm(ctx, warning, opts.bool("force")):
        return 0
    filters = list(opts.list("filter"))
    filters.append("dangling=false" if opts.bool("all") else "dangling=true")
    result = ctx.json("POST", "/images/prune", {"filters": filters_param(filters)}) or {}
    lines = []
    for item in result.get("ImagesDeleted") or []:
        for key in ("Untagged", "Deleted"):
            if key in item:
                lines.append(f"{key.lower()}: {item[key]}")
    prune_report(ctx, "Images", lines, int(result.get("SpaceReclaimed") or 0))
    return 0


def bootstrap(ctx: Context, opts: Options) -> int:
    name = opts.args[0] if opts.args else "busybox"
    try:
        resp = ctx.client.request(
            "POST", "/dockyard/images/bootstrap", {"name": name}, versioned=False
        )
    except DaemonError as exc:
        if exc.http_status != 404 or "page not found" not in exc.message.lower():
            raise
        # Daemons that serve the extension beside the Engine API routes.
        resp = ctx.client.request("POST", "/images/bootstrap", {"name": name})
    raw = resp.read()
    resp.close()
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return 0
    decoder = json.JSONDecoder()
    pos = 0
    while pos < len(text):
        try:
            value, end = decoder.raw_decode(text, pos)
        except ValueError:
            ctx.line(text[pos:].strip())
            break
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if isinstance(value, dict):
            if value.get("error"):
                raise DaemonError(500, str(value["error"]))
            shown = (
                value.get("status")
                or value.get("stream")
                or value.get("Id")
                or value.get("message")
            )
            if shown:
                ctx.line(str(shown).rstrip("\n"))
    return 0


# ---------------------------------------------------------------------- registry

# The registry verbs live in their own module; the catalog and `run` find them here too.
from dockyard.cli.commands.registry import (  # noqa: E402
    login,
    logout,
    pull,
    pull_image,
    push,
    search,
)

__all__ = ["for_each", "login", "logout", "pull", "pull_image", "push", "search"]
