"""A small pflag-compatible argument parser: Docker's flag syntax and its error messages.

Why not argparse: Docker stops option parsing at the first positional for run/create/exec
(`dockyard run busybox ls -l` passes `-l` to the container), accepts `--rm=false`, clustered
shorthands with a trailing value (`-itd`, `-eA=b`), and prints pflag's exact messages."""

from __future__ import annotations

import builtins

from dockyard.cli.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any


BOOL, STR, LIST, INT = "bool", "str", "list", "int"


class Flag:
    """One option: `--long`/`-s`, its kind, and an optional converter that validates the
    text (raising ValueError with Docker's message)."""

    __slots__ = (
        "aliases",
        "convert",
        "default",
        "help",
        "hidden",
        "kind",
        "long",
        "metavar",
        "short",
    )

    def __init__(
        self,
        long: builtins.str,
        short: builtins.str = "",
        kind: builtins.str = BOOL,
        help: builtins.str = "",
        default: Any = None,
        convert: Callable[[builtins.str], Any] | None = None,
        metavar: builtins.str = "",
        hidden: builtins.bool = False,
        aliases: tuple[builtins.str, ...] = (),
    ) -> None:
        self.long = long
        self.short = short
        self.kind = kind
        self.help = help
        self.default = default
        self.convert = convert
        self.metavar = metavar
        self.hidden = hidden
        self.aliases = aliases

    @property
    def dest(self) -> builtins.str:
        return self.long.replace("-", "_")

    @property
    def display(self) -> builtins.str:
        return f"-{self.short}, --{self.long}" if self.short else f"--{self.long}"


class Command:
    """A verb: its full name ("run", "volume create"), usage, flags and argument counts;
    `handler` is "module:function" under dockyard.cli.commands."""

    __slots__ = (
        "aliases",
        "flags",
        "handler",
        "interspersed",
        "max_args",
        "min_args",
        "name",
        "summary",
        "usage",
    )

    def __init__(
        self,
        name: str,
        usage: str,
        summary: str,
        handler: str,
        flags: tuple[Flag, ...] = (),
        min_args: int = 0,
        max_args: int | None = None,
        interspersed: bool = True,
        aliases: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.usage = usage
        self.summary = summary
        self.handler = handler
        self.flags = flags
        self.min_args = min_args
        self.max_args = max_args
        self.interspersed = interspersed
        self.aliases = aliases


class Options:
    """Parsed flag values (by dest name), which flags were given, and the positionals."""

    def __init__(self) -> None:
        self.values: dict[builtins.str, Any] = {}
        self.changed: set[builtins.str] = set()
        self.args: builtins.list[builtins.str] = []

    def str(self, name: builtins.str) -> builtins.str:
        value = self.values.get(name)
        return "" if value is None else str(value)

    def bool(self, name: builtins.str) -> builtins.bool:
        return bool(self.values.get(name))

    def int(self, name: builtins.str) -> builtins.int:
        value = self.values.get(name)
        return int(value) if value is not None else 0

    def list(self, name: builtins.str) -> builtins.list[builtins.str]:
        value = self.values.get(name)
        return list(value) if value else []

    def raw(self, name: builtins.str) -> Any:
        return self.values.get(name)

    def is_set(self, name: builtins.str) -> builtins.bool:
        return name in self.changed


def _parse_bool(text: str) -> bool:
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def _parse_int(text: str) -> int:
    try:
        return int(text, 0) if text.lower().startswith(("0x", "0o", "0b")) else int(text)
    except ValueError:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None


HELP = Flag("help", kind=BOOL, help="Print usage")


class Parser:
    def __init__(self, command: Command) -> None:
        self.command = command
        self.by_long: dict[str, Flag] = {}
        self.by_short: dict[str, Flag] = {}
        for flag in (*command.flags, HELP):
            self.by_long[flag.long] = flag
            for alias in flag.aliases:
                self.by_long[alias] = flag
            if flag.short:
                self.by_short[flag.short] = flag

    def parse(self, argv: Sequence[str]) -> Options:
        opts = Options()
        for flag in self.command.flags:
            default = flag.default
            if flag.kind == LIST:
                default = list(default or [])
            opts.values[flag.dest] = default
        i = 0
        argv = list(argv)
        while i < len(argv):
            arg = argv[i]
            i += 1
            if arg == "--":
                opts.args.extend(argv[i:])
                break
            if arg.startswith("--") and len(arg) > 2:
                i = self._long(arg[2:], argv, i, opts)
            elif arg.startswith("-") and len(arg) > 1:
                i = self._shorts(arg[1:], argv, i, opts)
            else:
                opts.args.append(arg)
                if not self.command.interspersed:
                    opts.args.extend(argv[i:])
                    break
        return opts

    def _long(self, body: str, argv: list[str], i: int, opts: Options) -> int:
        name, eq, value = body.partition("=")
        flag = self.by_long.get(name)
        if flag is None:
            raise UsageError(f"unknown flag: --{name}")
        if flag.kind == BOOL:
            self._set(flag, value if eq else "true", opts)
            return i
        if not eq:
            if i >= len(argv):
                raise UsageError(f"flag needs an argument: --{name}")
            value = argv[i]
            i += 1
        self._set(flag, value, opts)
        return i

    def _shorts(self, body: str, argv: list[str], i: int, opts: Options) -> int:
        j = 0
        while j < len(body):
            ch = body[j]
            flag = self.by_short.get(ch)
            if flag is None:
                if ch == "h" and "h" not in self.by_short:
                    flag = HELP
                else:
                    raise UsageError(f"unknown shorthand flag: '{ch}' in -{body}")
            rest = body[j + 1 :]
            if flag.kind == BOOL:
                if rest.startswith("="):
                    self._set(flag, rest[1:], opts)
                    return i
                self._set(flag, "true", opts)
                j += 1
                continue
            if rest:
                self._set(flag, rest[1:] if rest.startswith("=") else rest, opts)
                return i
            if i >= len(argv):
                raise UsageError(f"flag needs an argument: '{ch}' in -{body}")
            self._set(flag, argv[i], opts)
            return i + 1
        return i

    def _set(self, flag: Flag, text: str, opts: Options) -> None:
        try:
            if flag.kind == BOOL:
                value: Any = _parse_bool(text)
            elif flag.kind == INT:
                value = _parse_int(text)
            else:
                value = text
            if flag.convert is not None:
                value = flag.convert(text)
        except ValueError as exc:
            raise UsageError(
                f'invalid argument "{text}" for "{flag.display}" flag: {exc}'
            ) from None
        opts.changed.add(flag.dest)
        if flag.kind == LIST:
            opts.values[flag.dest].append(value)
        else:
            opts.values[flag.dest] = value

    def help_text(self, prog: str = "dockyard") -> str:
        cmd = self.command
        lines = [f"\nUsage:  {prog} {cmd.name} {cmd.usage}".rstrip(), "", cmd.summary]
        if cmd.aliases:
            lines += ["", "Aliases:", "  " + ", ".join(f"{prog} {a}" for a in cmd.aliases)]
        visible = [f for f in cmd.flags if not f.hidden]
        if visible:
            lines += ["", "Options:"]
            entries = []
            for f in visible:
                left = f"  -{f.short}, --{f.long}" if f.short else f"      --{f.long}"
                if f.kind != BOOL:
                    left += " " + (f.metavar or {LIST: "list", STR: "string"}.get(f.kind, f.kind))
                entries.append((left, f.help))
            width = max(len(left) for left, _ in entries) + 3
            lines += [left.ljust(width) + text for left, text in entries]
        return "\n".join(lines) + "\n"

    def usage_tail(self, prog: str = "dockyard") -> str:
        cmd = self.command
        return (
            f"\nUsage:  {prog} {cmd.name} {cmd.usage}".rstrip()
            + f"\n\nRun '{prog} {cmd.name} --help' for more information"
        )


def check_arg_count(command: Command, args: list[str], prog: str = "dockyard") -> None:
    """Docker's messages for too few / too many positional arguments (exit status 1)."""
    n = len(args)
    lo, hi = command.min_args, command.max_args
    problem = ""
    see = "See"
    if hi == 0 and n > 0:
        problem = "accepts no arguments"
        see = "Run"
    elif hi is not None and lo == hi and n != lo:
        plural = "argument" if lo == 1 else "arguments"
        problem = f"requires {lo} {plural}"
        see = "Run"
    elif n < lo:
        plural = "argument" if lo == 1 else "arguments"
        problem = f"requires at least {lo} {plural}"
    elif hi is not None and n > hi:
        problem = f"requires at most {hi} arguments"
    if problem:
        raise UsageError(
            f"{prog}: '{prog} {command.name}' {problem}\n\nUsage:  {prog} {command.name} "
            f"{command.usage}\n\n{see} '{prog} {command.name} --help' for more information",
            status=1,
        )
