"""Entry point of `dockyard`: global flags, command lookup, dispatch and error mapping.

Only the standard library and small dockyard.cli modules are imported before the command's
own module, which is imported by name (commands/containers.py for run/ps/exec...)."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

USAGE = """
Usage:  dockyard [OPTIONS] COMMAND

A Docker-compatible container engine

Common Commands:
  run         Create and run a new container from an image
  exec        Execute a command in a running container
  ps          List containers
  images      List images
  pull        Download an image from a registry
  push        Upload an image to a registry
  login       Log in to a registry
  logout      Log out from a registry
  search      Search registries for images
  version     Show the dockyard version information
  info        Display system-wide information

Management Commands:
  container   Manage containers
  image       Manage images
  volume      Manage volumes
  system      Manage dockyard
  daemon      Manage the dockyardd daemon (stop|status)

Commands:
  attach  commit  cp  create  diff  events  export  history  import  inspect  kill  load
  logs  pause  port  rename  restart  rm  rmi  save  start  stats  stop  tag  top  unpause
  update  wait

Global Options:
  -H, --host string   Daemon socket to connect to
  -v, --version       Print version information and quit
  -h, --help          Print usage

Run 'dockyard COMMAND --help' for more information on a command.
"""


def _version() -> str:
    from dockyard import __version__

    return f"dockyard version {__version__}"


def _split_global(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """Global options come before the command word (Docker stops at the first non-flag)."""
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-H", "--host", "-l", "--log-level", "--config", "--context", "-c"):
            if i + 1 >= len(argv):
                from dockyard.cli.errors import UsageError

                raise UsageError(f"flag needs an argument: {arg}")
            key = {"-H": "host", "--host": "host"}.get(arg, arg.lstrip("-"))
            opts[key] = argv[i + 1]
            i += 2
        elif arg.startswith(("--host=", "-H=")):
            opts["host"] = arg.split("=", 1)[1]
            i += 1
        elif arg.startswith("--log-level=") or arg in ("-D", "--debug", "--tls", "--tlsverify"):
            i += 1
        elif arg in ("-v", "--version"):
            opts["version"] = "1"
            i += 1
        elif arg in ("-h", "--help"):
            opts["help"] = "1"
            i += 1
        elif arg.startswith("-") and arg != "-":
            from dockyard.cli.errors import UsageError

            raise UsageError(
                f"unknown flag: {arg}"
                if arg.startswith("--")
                else f"unknown shorthand flag: '{arg[1:2]}' in {arg}"
            )
        else:
            break
    return opts, argv[i:]


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output closed early (`dockyard ps | head`): quiet, like Go programs on EPIPE.
        try:
            sys.stdout = None
        finally:
            return 0  # noqa: B012


def entry() -> NoReturn:
    """The launcher's entry point (runtime.launcher): main, then exit without the
    interpreter's teardown, which frees every module and object for nothing. Threads
    the CLI starts are daemons; nothing is registered with atexit."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except BrokenPipeError:
            pass  # `dockyard ps | head`: quiet, as main() itself does
        except (OSError, ValueError):
            code = code or 1
    os._exit(code)


def _main(args: list[str]) -> int:
    from dockyard.cli.errors import CliError, ConnectError, DaemonError, StatusExit, UsageError

    try:
        gopts, rest = _split_global(args)
    except UsageError as exc:
        print(exc.message + "\n" + USAGE.rstrip("\n"), file=sys.stderr)
        return 125
    if "version" in gopts:
        print(_version())
        return 0
    if not rest or "help" in gopts:
        print(USAGE.lstrip("\n"), end="")
        return 0

    from dockyard.cli.catalog import GROUPS, lookup
    from dockyard.cli.flags import Parser, check_arg_count

    command, used = lookup(rest)
    if command is None:
        if rest[0] in GROUPS and (len(rest) == 1 or rest[1] in ("--help", "-h")):
            from dockyard.cli.catalog import group_help

            print(group_help(rest[0]), end="")
            return 0
        word = " ".join(rest[:used])
        print(
            f"dockyard: unknown command: dockyard {word}\n\nRun 'dockyard --help' for more "
            "information",
            file=sys.stderr,
        )
        return 1
    parser = Parser(command)
    try:
        opts = parser.parse(rest[used:])
        if "help" in opts.changed:
            print(parser.help_text().lstrip("\n"), end="")
            return 0
        check_arg_count(command, opts.args)
    except UsageError as exc:
        if "\nUsage:" in exc.message:
            print(exc.message, file=sys.stderr)
        else:
            print(exc.message + "\n" + parser.usage_tail(), file=sys.stderr)
        return exc.status

    from dockyard.cli.context import Context

    module_name, func_name = command.handler.split(":")
    # __import__ rather than importlib: importlib costs imports the hot path does not need.
    package = __import__(f"dockyard.cli.commands.{module_name}")
    module = getattr(package.cli.commands, module_name)
    handler = getattr(module, func_name)
    ctx = Context(host_flag=gopts.get("host"), command=command)
    try:
        return int(handler(ctx, opts))
    except StatusExit as exc:
        return exc.status
    except UsageError as exc:
        if command.name in ("run", "create"):
            print(f"dockyard: {exc.message}\n" + parser.usage_tail(), file=sys.stderr)
        else:
            print(exc.message + "\n" + parser.usage_tail(), file=sys.stderr)
        return exc.status
    except DaemonError as exc:
        if command.name in ("run", "create"):
            print(
                f"dockyard: {exc}\n\nRun 'dockyard {command.name} --help' for more information",
                file=sys.stderr,
            )
        else:
            print(str(exc), file=sys.stderr)
        return exc.status
    except ConnectError as exc:
        if command.name in ("run", "create"):
            # Docker: errors before the container runs are 125 for run/create.
            print(
                f"dockyard: {exc.message}\n\nRun 'dockyard {command.name} --help' for more "
                "information",
                file=sys.stderr,
            )
            return 125
        print(exc.message, file=sys.stderr)
        return exc.status
    except CliError as exc:
        print(exc.message, file=sys.stderr)
        return exc.status
    except (OSError, ValueError) as exc:
        # Local I/O failures and undecodable replies: one line, never a traceback.
        if isinstance(exc, BrokenPipeError):
            raise
        if isinstance(exc, OSError) and exc.strerror:
            where = f"{exc.filename}: " if exc.filename else ""
            text = f"{where}{exc.strerror[:1].lower()}{exc.strerror[1:]}"
        else:
            text = str(exc)
        print(f"Error: {text}", file=sys.stderr)
        return 125 if command.name in ("run", "create") else 1
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())
