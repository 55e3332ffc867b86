"""`dockyard-hub`: serve the hub, manage users, collect garbage."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from dockyard.hub.config import DEFAULT_DATA, load
from dockyard.hub.errors import HubError


def _data_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        default=None,
        help=f"data directory (env DOCKYARD_HUB_DATA, default {DEFAULT_DATA})",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dockyard-hub", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the hub")
    serve.add_argument("--listen", default=None, help="HOST:PORT (default 127.0.0.1:5000)")
    _data_arg(serve)
    serve.add_argument("--config", default=None, help="TOML configuration file")
    serve.add_argument("--tls-cert", default=None)
    serve.add_argument("--tls-key", default=None)
    user = sub.add_parser("user", help="manage accounts")
    usub = user.add_subparsers(dest="user_command", required=True)
    add = usub.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true")
    add.add_argument("--password-stdin", action="store_true", required=True)
    _data_arg(add)
    passwd = usub.add_parser("passwd", help="set a user's password")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", required=True)
    _data_arg(passwd)
    gc = sub.add_parser("gc", help="remove untagged manifests, unreferenced blobs, old uploads")
    _data_arg(gc)
    gc.add_argument("--config", default=None)
    gc.add_argument("--dry-run", action="store_true")
    return parser


def _data_dir(value: str | None) -> Path:
    return Path(value or os.environ.get("DOCKYARD_HUB_DATA") or DEFAULT_DATA)


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise HubError("no password on stdin")
    return password


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "user":
            return _user(args)
        if args.command == "gc":
            return _gc(args)
    except HubError as e:
        print(f"dockyard-hub: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


def _serve(args: argparse.Namespace) -> int:
    import ssl

    from aiohttp import web

    from dockyard.hub.app import make_app

    overrides = {
        "listen": args.listen,
        "data": args.data,
        "tls_cert": args.tls_cert,
        "tls_key": args.tls_key,
    }
    config = load(args.config, overrides)
    if bool(config.tls_cert) != bool(config.tls_key):
        raise HubError("--tls-cert and --tls-key go together")
    ssl_ctx = None
    if config.tls_cert:
        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(config.tls_cert, config.tls_key)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    host, port = config.host_port
    app = make_app(config)
    scheme = "https" if ssl_ctx else "http"
    print(f"dockyard-hub: serving {scheme}://{config.listen} from {config.data}", flush=True)
    web.run_app(
        app,
        host=host,
        port=port,
        ssl_context=ssl_ctx,
        print=None,
        access_log=None,
        handle_signals=True,
    )
    return 0


def _user(args: argparse.Namespace) -> int:
    from dockyard.hub import accounts
    from dockyard.hub.db import connect

    data = _data_dir(args.data)
    conn = connect(data / "hub.db")
    try:
        if args.user_command == "add":
            accounts.create_user(conn, args.name, _read_password(), admin=args.admin)
            print(f"created user {args.name}{' (admin)' if args.admin else ''}")
        elif args.user_command == "passwd":
            accounts.set_password(conn, args.name, _read_password())
            print(f"password of {args.name} changed")
    finally:
        conn.close()
    return 0


def _gc(args: argparse.Namespace) -> int:
    from dockyard.hub import gc

    config = load(args.config, {"data": _data_dir(args.data)})
    report = gc.collect(config, set(), dry_run=args.dry_run)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
