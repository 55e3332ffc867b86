"""Registry verbs: pull, push, search, login, logout, as the docker CLI does them.

Credentials live where Docker keeps them (dockyard.distribution.credentials); the daemon does
the registry work, and gets them per request in the X-Registry-Auth header."""

from __future__ import annotations

import contextlib
import os
import sys
import time

from dockyard.cli.commands.common import filters_param, q, render_format
from dockyard.cli.context import Context
from dockyard.cli.errors import CliError, DaemonError
from dockyard.cli.flags import Options
from dockyard.cli.units import ellipsis

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

DOCKER_HUB_INDEX = "https://index.docker.io/v1/"
PASSWORD_FLAG_WARNING = "WARNING! Using --password via the CLI is insecure. Use --password-stdin."
STORE_WARNING = (
    "\nWARNING! Your credentials are stored unencrypted in '{path}'.\n"
    "Configure a credential helper to remove this warning. See\n"
    "https://docs.docker.com/go/credential-store/\n"
)

STORED_NOTICE = (
    "Authenticating with existing credentials... [Username: {user}]\n\n"
    " Info -> To login with a different account, run 'docker logout' followed by "
    "'docker login'\n\n"
)

# ---------------------------------------------------------------------- references


def split_domain(name: str) -> tuple[str, str]:
    """Docker's rule: the first component is a registry when it has '.' or ':' or is
    'localhost'; otherwise the name is on docker.io (under library/ when it has no '/')."""
    first, sep, rest = name.partition("/")
    if sep and (any(c in first for c in ".:") or first == "localhost" or first != first.lower()):
        return first, rest
    remote = name if sep else f"library/{name}"
    return "docker.io", remote


def parse_ref(ref: str) -> tuple[str, str, str]:
    """'host:5000/a/b:1' -> (name, tag, digest); the name keeps the form it was given in."""
    name, digest = ref, ""
    if "@" in ref:
        name, digest = ref.split("@", 1)
    tag = ""
    base, sep, maybe_tag = name.rpartition(":")
    if sep and "/" not in maybe_tag:
        name, tag = base, maybe_tag
    if not name or (digest and ":" not in digest):
        raise CliError(f"invalid reference format: {ref!r}" if ref else "invalid reference format")
    return name, tag, digest


def full_name(name: str) -> str:
    """The canonical form docker prints: busybox -> docker.io/library/busybox."""
    domain, remote = split_domain(name)
    return f"{domain}/{remote}"


def auth_server(name: str) -> str:
    """The key credentials for `name`'s registry are stored under."""
    domain, _remote = split_domain(name)
    return DOCKER_HUB_INDEX if domain == "docker.io" else domain


def registry_auth(name: str) -> str:
    """X-Registry-Auth for an image name: stored credentials, else an anonymous config."""
    from dockyard.distribution.credentials import (
        AuthConfig,
        encode_registry_auth,
        get_credentials,
    )
    from dockyard.distribution.errors import InvalidAuthConfig

    server = auth_server(name)
    try:
        found = get_credentials(server)
    except InvalidAuthConfig as exc:
        raise CliError(f"Error: {exc}") from None
    return encode_registry_auth(found or AuthConfig(serveraddress=server))


# ---------------------------------------------------------------------- progress


def show_stream(ctx: Context, resp: Any, out: IO[str], quiet: bool = False) -> list[dict[str, Any]]:
    """Render the daemon's progress stream; returns the `aux` messages (push results)."""
    from dockyard.cli.progress import DEFAULT_WIDTH, ProgressRenderer, StreamError

    tty = not quiet and out.isatty()
    width = DEFAULT_WIDTH
    if tty:
        with contextlib.suppress(OSError, ValueError):
            width = os.get_terminal_size(out.fileno()).columns
    renderer = ProgressRenderer(tty, width)
    for msg in ctx.client.stream_json(resp):
        if not isinstance(msg, dict):
            continue
        try:
            text = renderer.feed(msg, time.time())
        except StreamError as exc:
            resp.close()
            out.flush()
            raise CliError(exc.message) from None
        if text and not quiet:
            out.write(text)
            out.flush()
    return renderer.aux


# ---------------------------------------------------------------------- pull / push


def pull_image(
    ctx: Context, ref: str, quiet: bool, to_stderr: bool = False, platform: str = ""
) -> None:
    """POST /images/create for `ref` (tagged or by digest), showing its progress."""
    name, tag, digest = parse_ref(ref)
    resp = ctx.client.request(
        "POST",
        "/images/create",
        {"fromImage": name, "tag": digest or tag or "latest", "platform": platform or None},
        headers={"X-Registry-Auth": registry_auth(name)},
    )
    try:
        show_stream(ctx, resp, sys.stderr if to_stderr else sys.stdout, quiet=quiet)
    except CliError as exc:
        # Inside run/create a failed pull is a failure before the container: Docker's 125.
        raise CliError(exc.message, status=125 if to_stderr else exc.status) from None


def pull(ctx: Context, opts: Options) -> int:
    ref = opts.args[0]
    quiet = opts.bool("quiet")
    name, tag, digest = parse_ref(ref)
    if opts.bool("all_tags"):
        if tag or digest:
            raise CliError("tag can't be used with --all-tags/-a")
        resp = ctx.client.request(
            "POST",
            "/images/create",
            {"fromImage": name, "platform": opts.str("platform") or None},
            headers={"X-Registry-Auth": registry_auth(name)},
        )
        show_stream(ctx, resp, sys.stdout, quiet=quiet)
        ctx.line(full_name(name))
        return 0
    if not tag and not digest:
        tag = "latest"
        if not quiet:
            ctx.line("Using default tag: latest")
    shown = f"{name}@{digest}" if digest else f"{name}:{tag}"
    pull_image(ctx, shown, quiet=quiet, platform=opts.str("platform"))
    ctx.line(f"{full_name(name)}@{digest}" if digest else f"{full_name(name)}:{tag}")
    return 0


def push(ctx: Context, opts: Options) -> int:
    name, tag, digest = parse_ref(opts.args[0])
    quiet = opts.bool("quiet")
    if digest:
        raise CliError("Error: cannot push a digest reference")
    if opts.bool("all_tags"):
        if tag:
            raise CliError("tag can't be used with --all-tags/-a")
    elif not tag:
        tag = "latest"
        if not quiet:
            ctx.line("Using default tag: latest")
    resp = ctx.client.request(
        "POST",
        f"/images/{q(name)}/push",
        {"tag": tag or None},
        headers={"X-Registry-Auth": registry_auth(name)},
    )
    show_stream(ctx, resp, sys.stdout, quiet=quiet)
    if quiet:
        ctx.line(f"{full_name(name)}:{tag}" if tag else full_name(name))
    return 0


# ---------------------------------------------------------------------- search


def search_rows(results: list[dict[str, Any]], trunc: bool) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        desc = str(r.get("description") or "").replace("\n", " ").replace("\r", " ")
        rows.append(
            {
                "Name": str(r.get("name", "")),
                "Description": ellipsis(desc, 45) if trunc else desc,
                "StarCount": str(r.get("star_count", 0)),
                "IsOfficial": "[OK]" if r.get("is_official") else "",
            }
        )
    return rows


SEARCH_HEADERS = {
    "Name": "NAME",
    "Description": "DESCRIPTION",
    "StarCount": "STARS",
    "IsOfficial": "OFFICIAL",
}
SEARCH_TABLE = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}"


def search(ctx: Context, opts: Options) -> int:
    term = opts.args[0]
    params: dict[str, str | int | None] = {
        "term": term,
        "limit": opts.int("limit"),
        "filters": filters_param(opts.list("filter")),
    }
    resp = ctx.client.request(
        "GET", "/images/search", params, headers={"X-Registry-Auth": registry_auth(term)}
    )
    import json

    results = json.loads(resp.read() or b"[]")
    resp.close()
    rows = search_rows(results if isinstance(results, list) else [], not opts.bool("no_trunc"))
    render_format(ctx, opts.str("format") or SEARCH_TABLE, rows, SEARCH_HEADERS)
    return 0


# ---------------------------------------------------------------------- login / logout


def _prompt_credentials(username: str, password: str, stored_user: str) -> tuple[str, str]:
    """Ask on the terminal for what the flags did not give, as `docker login` does."""
    if not username:
        label = f"Username ({stored_user}): " if stored_user else "Username: "
        sys.stdout.write(label)
        sys.stdout.flush()
        username = sys.stdin.readline().strip() or stored_user
        if not username:
            raise CliError("Error: Non-null Username Required")
    if not password:
        import getpass

        password = getpass.getpass("Password: ")
        if not password:
            raise CliError("Error: Password Required")
    return username, password


def _server_arg(opts: Options) -> str:
    server = opts.args[0] if opts.args else ""
    return server or DOCKER_HUB_INDEX


def _auth(ctx: Context, username: str, password: str, server: str) -> Any:
    return ctx.json(
        "POST",
        "/auth",
        None,
        {"username": username, "password": password, "serveraddress": server},
    )


def login(ctx: Context, opts: Options) -> int:
    from dockyard.distribution.credentials import get_credentials, store_credentials
    from dockyard.distribution.errors import InvalidAuthConfig

    server = _server_arg(opts)
    username = opts.str("username").strip()
    password = opts.str("password")
    if password:
        ctx.err(PASSWORD_FLAG_WARNING)
        if opts.bool("password_stdin"):
            raise CliError("--password and --password-stdin are mutually exclusive")
    if opts.bool("password_stdin"):
        if not username:
            raise CliError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\n").rstrip("\r")
    try:
        stored = get_credentials(server)
    except InvalidAuthConfig:
        stored = None
    if not username and not password and stored is not None and stored.password:
        # Docker first tries what it has; only a refusal leads to the prompts.
        ctx.err(STORED_NOTICE.format(user=stored.username))
        try:
            result = _auth(ctx, stored.username, stored.password, server)
        except DaemonError:
            ctx.err("Stored credentials invalid or expired")
        else:
            ctx.line(str((result or {}).get("Status") or "Login Succeeded"))
            return 0
    if not username or not password:
        if not sys.stdin.isatty():
            raise CliError("Error: Cannot perform an interactive login from a non TTY device")
        username, password = _prompt_credentials(
            username, password, stored.username if stored else ""
        )
    result = _auth(ctx, username, password, server)
    # As docker 28: the file (and the warning about it) only when the credentials change.
    if stored is None or (stored.username, stored.password) != (username, password):
        try:
            path = store_credentials(server, username, password)
        except (InvalidAuthConfig, OSError) as exc:
            raise CliError(f"Error saving credentials: {exc}") from None
        ctx.err(STORE_WARNING.format(path=path))
    ctx.line(str((result or {}).get("Status") or "Login Succeeded"))
    return 0


def logout(ctx: Context, opts: Options) -> int:
    from dockyard.distribution.credentials import erase_credentials
    from dockyard.distribution.errors import InvalidAuthConfig
    from dockyard.distribution.registries import auth_key

    key = auth_key(_server_arg(opts))
    try:
        erased = erase_credentials(key)
    except (InvalidAuthConfig, OSError) as exc:
        raise CliError(f"Error: {exc}") from None
    if not erased:
        ctx.line(f"Not logged in to {key}")
        return 0
    ctx.line(f"Removing login credentials for {key}")
    return 0


__all__ = ["DaemonError", "login", "logout", "pull", "pull_image", "push", "search"]
