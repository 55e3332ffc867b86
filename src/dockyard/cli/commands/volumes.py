"""Volume verbs: create, ls, inspect, rm, prune."""

from __future__ import annotations

from dockyard.cli.commands.common import (
    confirm,
    filters_param,
    for_each,
    print_inspect,
    prune_report,
    q,
    render_format,
)
from dockyard.cli.context import Context
from dockyard.cli.errors import CliError, DaemonError
from dockyard.cli.flags import Options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _kv(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def create(ctx: Context, opts: Options) -> int:
    name = opts.args[0] if opts.args else opts.str("name")
    if opts.args and opts.str("name") and opts.str("name") != opts.args[0]:
        raise CliError(
            "conflicting options: either specify --name or provide positional arg, not both"
        )
    body = {
        "Name": name,
        "Driver": opts.str("driver") or "local",
        "DriverOpts": _kv(opts.list("opt")),
        "Labels": _kv(opts.list("label")),
    }
    volume = ctx.json("POST", "/volumes/create", None, body)
    ctx.line(str(volume.get("Name", "")))
    return 0


VOLUME_HEADERS = {
    "Driver": "DRIVER",
    "Name": "VOLUME NAME",
    "Mountpoint": "MOUNTPOINT",
    "Scope": "SCOPE",
    "Labels": "LABELS",
    "Links": "LINKS",
    "Size": "SIZE",
    "Availability": "AVAILABILITY",
    "Group": "GROUP",
}


def volume_row(v: dict[str, Any]) -> dict[str, Any]:
    labels: dict[str, str] = v.get("Labels") or {}
    usage = v.get("UsageData") or {}
    from dockyard.cli.units import human_size

    row: dict[str, Any] = {
        "Availability": "N/A",
        "Driver": v.get("Driver", ""),
        "Group": "N/A",
        "Labels": ",".join(f"{k}={val}" for k, val in sorted(labels.items())),
        "Links": str(usage.get("RefCount", "N/A")),
        "Mountpoint": v.get("Mountpoint", ""),
        "Name": v.get("Name", ""),
        "Scope": v.get("Scope", "local"),
        "Size": human_size(usage["Size"]) if usage.get("Size", -1) >= 0 else "N/A",
        "Status": "N/A",
    }
    row["Label"] = lambda key: labels.get(key, "")
    return row


def ls(ctx: Context, opts: Options) -> int:
    result = ctx.json("GET", "/volumes", {"filters": filters_param(opts.list("filter"))}) or {}
    volumes = sorted(result.get("Volumes") or [], key=lambda v: v.get("Name", ""))
    for warning in result.get("Warnings") or []:
        ctx.err(f"WARNING: {warning}")
    if opts.bool("quiet") and not opts.str("format"):
        for v in volumes:
            ctx.line(str(v.get("Name", "")))
        return 0
    fmt = opts.str("format") or "table {{.Driver}}\t{{.Name}}"
    render_format(ctx, fmt, [volume_row(v) for v in volumes], VOLUME_HEADERS)
    return 0


def inspect(ctx: Context, opts: Options) -> int:
    found: list[Any] = []
    errors: list[str] = []
    for name in opts.args:
        try:
            found.append(ctx.json("GET", f"/volumes/{q(name)}"))
        except DaemonError as exc:
            errors.append(str(exc))
    if found or not opts.str("format"):
        print_inspect(ctx, found, opts.str("format"))
    # As Docker: what was found first, then one line per name that was not.
    for line in errors:
        ctx.err(line)
    return 1 if errors else 0


def rm(ctx: Context, opts: Options) -> int:
    params = {"force": opts.bool("force") or None}
    return for_each(ctx, opts.args, lambda n: ctx.client.call("DELETE", f"/volumes/{q(n)}", params))


def prune(ctx: Context, opts: Options) -> int:
    warning = (
        "WARNING! This will remove all local volumes not used by at least one container."
        if opts.bool("all")
        else "WARNING! This will remove anonymous local volumes not used by at least one container."
    )
    if not confirm(ctx, warning, opts.bool("force")):
        return 0
    # API 1.41 prunes every unused volume; the `all` filter only exists from 1.42 on.
    filters = list(opts.list("filter"))
    result = ctx.json("POST", "/volumes/prune", {"filters": filters_param(filters)}) or {}
    prune_report(
        ctx, "Volumes", result.get("VolumesDeleted"), int(result.get("SpaceReclaimed") or 0)
    )
    return 0
