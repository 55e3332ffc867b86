"""Helpers shared by the command modules: loops over names, inspect output, prompts."""

from __future__ import annotations

import sys

from dockyard.cli.context import Context
from dockyard.cli.errors import CliError, DaemonError, TemplateError
from dockyard.cli.transport import quote_path
from dockyard.oci import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any


def q(name: str) -> str:
    return quote_path(name)


def for_each(ctx: Context, names: Iterable[str], action: Callable[[str], str | None]) -> int:
    """Docker's pattern for multi-object verbs: print each success (the name, unless the
    action returns another text), print each failure on stderr, exit 1 if any failed."""
    failed = False
    for name in names:
        try:
            shown = action(name)
        except DaemonError as exc:
            ctx.err(str(exc))
            failed = True
            continue
        except CliError as exc:
            ctx.err(exc.message)
            failed = True
            continue
        ctx.line(name if shown is None else shown)
    return 1 if failed else 0


def go_json_indent(value: Any) -> str:
    """The docker CLI's inspect output: 4-space indent, UTF-8, no HTML escaping."""
    import json

    return json.dumps(value, indent=4, ensure_ascii=False)


def print_inspect(ctx: Context, objects: list[Any], fmt: str) -> None:
    if not fmt:
        ctx.line(go_json_indent(objects))
        return
    from dockyard.cli.template import Template

    try:
        template = Template(fmt.replace("\\t", "\t").replace("\\n", "\n"))
        for obj in objects:
            ctx.line(template.render(obj))
    except TemplateError as exc:
        raise CliError(f"template parsing error: template: :1: {exc}") from None


def render_format(
    ctx: Context,
    fmt: str,
    rows: list[dict[str, Any]],
    headers: dict[str, str],
    minwidth: int = 10,
) -> None:
    from dockyard.cli.table import render_rows

    try:
        ctx.out(render_rows(fmt, rows, headers, minwidth=minwidth))
    except TemplateError as exc:
        raise CliError(f"template parsing error: template: :1: {exc}") from None


def filters_param(items: list[str]) -> str | None:
    """--filter k=v (repeated) as the API's JSON: {"k": {"v": true}} (what the docker CLI sends)."""
    if not items:
        return None
    out: dict[str, dict[str, bool]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"bad format of filter (expected name=value): {item}")
        out.setdefault(key.strip().lower(), {})[value.strip()] = True
    return fastjson.dumps(out, compact=True)


def confirm(ctx: Context, warning: str, force: bool) -> bool:
    if force:
        return True
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower() if sys.stdin else ""
    return answer in ("y", "yes")


def prune_report(ctx: Context, title: str, deleted: list[str] | None, space: int) -> None:
    from dockyard.cli.units import human_size

    if deleted:
        ctx.line(f"Deleted {title}:")
        for item in deleted:
            ctx.line(item)
        ctx.line()
    ctx.line(f"Total reclaimed space: {human_size(space)}")


def split_repo_tag(ref: str) -> tuple[str, str]:
    """'host:5000/a/b:tag' -> ('host:5000/a/b', 'tag'); no tag -> (ref, '')."""
    if "@" in ref:
        return ref, ""
    name, sep, tag = ref.rpartition(":")
    if sep and "/" not in tag:
        return name, tag
    return ref, ""


def write_stream(ctx: Context, resp: Any, output: str, what: str) -> None:
    """Copy a binary response to a file or to stdout (never to a terminal)."""
    import os

    if not output and os.isatty(1):
        raise CliError("Cowardly refusing to save to a terminal. Use the -o flag or redirect")
    sys.stdout.flush()
    target = open(output, "wb") if output else None  # noqa: SIM115
    fd = target.fileno() if target else 1
    try:
        from dockyard.cli.stdio import write_all

        while True:
            chunk = resp.read(1 << 16)
            if not chunk:
                break
            write_all(fd, chunk)
    finally:
        if target:
            target.close()
        resp.close()
