"""A small command-line parser that accepts what runc's (urfave/cli) accepts (pure).

`--flag value`, `--flag=value`, `-flag value` (Go style single dash), `--bool`,
`--bool=true|false`; parsing of a command's flags stops at its first positional argument,
so `exec ID sh -c ...` keeps the command's own flags.
"""

from __future__ import annotations

from dockyard.runtime.errors import UsageError
from dockyard.runtime.record import record

# kinds: "bool", "str", "int", "list" (repeatable string)


@record
class Parsed:
    opts: dict[str, object] = {}  # noqa: RUF012 (@record copies it)
    args: list[str] = []  # noqa: RUF012 (@record copies it)

    def get_str(self, name: str, default: str | None = None) -> str | None:
        v = self.opts.get(name, default)
        return None if v is None else str(v)

    def get_bool(self, name: str) -> bool:
        return bool(self.opts.get(name, False))

    def get_int(self, name: str, default: int = 0) -> int:
        v = self.opts.get(name)
        return default if v is None else int(str(v))

    def get_list(self, name: str) -> list[str]:
        v = self.opts.get(name)
        return list(v) if isinstance(v, list) else []


def parse(
    argv: list[str],
    spec: dict[str, str],
    aliases: dict[str, str] | None = None,
    stop_at_positional: bool = True,
) -> Parsed:
    out = Parsed()
    aliases = aliases or {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            out.args.extend(argv[i + 1 :])
            break
        if not a.startswith("-") or a == "-":
            if stop_at_positional:
                out.args.extend(argv[i:])
                break
            out.args.append(a)
            i += 1
            continue
        name, eq, value = a.lstrip("-").partition("=")
        name = aliases.get(name, name)
        kind = spec.get(name)
        if kind is None:
            raise UsageError(f"flag provided but not defined: {a.split('=')[0]}")
        if kind == "bool":
            if eq:
                if value.lower() not in ("true", "false", "1", "0"):
                    raise UsageError(f"invalid boolean value {value!r} for {a}")
                out.opts[name] = value.lower() in ("true", "1")
            else:
                out.opts[name] = True
            i += 1
            continue
        if not eq:
            if i + 1 >= len(argv):
                raise UsageError(f"flag needs an argument: {a}")
            value = argv[i + 1]
            i += 2
        else:
            i += 1
        if kind == "int":
            try:
                int(value)
            except ValueError:
                raise UsageError(f"invalid value {value!r} for flag {a}") from None
        if kind == "list":
            cur = out.opts.setdefault(name, [])
            assert isinstance(cur, list)
            cur.append(value)
        else:
            out.opts[name] = value
    return out
