"""A small Go text/template engine: the subset people pass to `--format`.

Supports text and `{{ }}` actions with `{{-`/`-}}` trimming, field chains (`.State.Status`),
variables (`$`, `$x := ...`), pipelines (`.Names | upper`), parenthesised sub-pipelines,
string/number/bool literals, `if`/`else if`/`else`, `range` (with `$i, $v :=` and `else`),
`with`, and Docker's functions (json, join, split, lower, upper, title, truncate, pad) plus
Go's builtins (eq, ne, lt, le, gt, ge, and, or, not, len, index, print, printf, println).
Values are the decoded JSON of the API (dicts, lists, str, int, float, bool, None) or dicts
whose values may be callables (Docker's context methods such as `.Label "key"`)."""

from __future__ import annotations

import json

from dockyard.cli.errors import TemplateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any


# ---------------------------------------------------------------- lexing


class _Tok:
    __slots__ = ("kind", "text", "value")

    def __init__(self, kind: str, text: str, value: Any = None) -> None:
        # kind: field, var, ident, str, num, pipe, lparen, rparen, declare, assign, comma, dot
        self.kind = kind
        self.text = text
        self.value = value


def _split_actions(src: str) -> list[tuple[str, str]]:
    """Text and action pieces, with `{{-` / `-}}` whitespace trimming applied."""
    parts: list[tuple[str, str]] = []
    pos = 0
    while True:
        start = src.find("{{", pos)
        if start < 0:
            parts.append(("text", src[pos:]))
            break
        end = src.find("}}", start + 2)
        if end < 0:
            raise TemplateError("unclosed action")
        inner = src[start + 2 : end]
        text = src[pos:start]
        if inner.startswith("- ") or inner == "-":
            text = text.rstrip()
            inner = inner[1:]
        trim_next = False
        if inner.endswith(" -") or inner == "-":
            inner = inner[:-1]
            trim_next = True
        parts.append(("text", text))
        parts.append(("action", inner.strip()))
        pos = end + 2
        if trim_next:
            while pos < len(src) and src[pos] in " \t\r\n":
                pos += 1
    return [p for p in parts if p != ("text", "")]


def _lex(action: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    n = len(action)
    while i < n:
        c = action[i]
        if c in " \t\r\n":
            i += 1
        elif c == "|":
            toks.append(_Tok("pipe", c))
            i += 1
        elif c == "(":
            toks.append(_Tok("lparen", c))
            i += 1
        elif c == ")":
            toks.append(_Tok("rparen", c))
            i += 1
        elif c == ",":
            toks.append(_Tok("comma", c))
            i += 1
        elif action.startswith(":=", i):
            toks.append(_Tok("declare", ":="))
            i += 2
        elif c == "=":
            toks.append(_Tok("assign", "="))
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and action[j] != '"':
                j += 2 if action[j] == "\\" else 1
            if j >= n:
                raise TemplateError("unterminated quoted string")
            toks.append(_Tok("str", action[i : j + 1], json.loads(action[i : j + 1])))
            i = j + 1
        elif c == "`":
            j = action.find("`", i + 1)
            if j < 0:
                raise TemplateError("unterminated raw quoted string")
            toks.append(_Tok("str", action[i : j + 1], action[i + 1 : j]))
            i = j + 1
        elif c == "." or c == "$":
            j = i + 1
            while j < n and (action[j].isalnum() or action[j] in "_."):
                j += 1
            word = action[i:j]
            kind = "var" if c == "$" else ("dot" if word == "." else "field")
            toks.append(_Tok(kind, word))
            i = j
        elif c.isdigit() or (c == "-" and i + 1 < n and action[i + 1].isdigit()):
            j = i + 1
            while j < n and (action[j].isalnum() or action[j] in "._+-"):
                j += 1
            word = action[i:j]
            try:
                num: int | float = int(word, 0)
            except ValueError:
                try:
                    num = float(word)
                except ValueError:
                    raise TemplateError(f"bad number syntax: {word!r}") from None
            toks.append(_Tok("num", word, num))
            i = j
        elif c.isalpha() or c == "_":
            j = i + 1
            while j < n and (action[j].isalnum() or action[j] == "_"):
                j += 1
            toks.append(_Tok("ident", action[i:j]))
            i = j
        else:
            raise TemplateError(f"unexpected {c!r} in command")
    return toks


# ---------------------------------------------------------------- AST


class _Operand:
    __slots__ = ("chain", "kind", "name", "pipe", "value")

    def __init__(
        self,
        kind: str,
        name: str = "",
        chain: tuple[str, ...] = (),
        value: Any = None,
        pipe: _Pipeline | None = None,
    ) -> None:
        self.kind = kind  # field, var, dot, literal, func, pipe
        self.name = name
        self.chain = chain
        self.value = value
        self.pipe = pipe


class _Pipeline:
    __slots__ = ("assign", "cmds", "decl")

    def __init__(self) -> None:
        self.decl: list[str] = []
        self.assign = False
        self.cmds: list[list[_Operand]] = []


class _Node:
    __slots__ = ("body", "kind", "orelse", "pipe", "text")

    def __init__(self, kind: str, text: str = "", pipe: _Pipeline | None = None) -> None:
        self.kind = kind  # text, action, if, range, with
        self.text = text
        self.pipe = pipe
        self.body: list[_Node] = []
        self.orelse: list[_Node] = []


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.pos = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def next(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise TemplateError("unexpected end of action")
        self.pos += 1
        return tok

    def pipeline(self, stop: str = "") -> _Pipeline:
        pipe = _Pipeline()
        # Variable declarations: `$x :=` or `$i, $v :=`.
        save = self.pos
        names: list[str] = []
        while (tok := self.peek()) is not None and tok.kind == "var":
            names.append(tok.text)
            self.pos += 1
            nxt = self.peek()
            if nxt is not None and nxt.kind == "comma":
                self.pos += 1
                continue
            break
        nxt = self.peek()
        if names and nxt is not None and nxt.kind in ("declare", "assign"):
            self.pos += 1
            pipe.decl = names
            pipe.assign = nxt.kind == "assign"
        else:
            self.pos = save
        cmd: list[_Operand] = []
        while (tok := self.peek()) is not None:
            if stop and tok.kind == stop:
                break
            if tok.kind == "pipe":
                self.pos += 1
                if not cmd:
                    raise TemplateError("missing command before '|'")
                pipe.cmds.append(cmd)
                cmd = []
                continue
            cmd.append(self.operand())
        if cmd:
            pipe.cmds.append(cmd)
        if not pipe.cmds:
            raise TemplateError("missing value for command")
        return pipe

    def operand(self) -> _Operand:
        tok = self.next()
        if tok.kind == "lparen":
            inner = self.pipeline(stop="rparen")
            if self.next().kind != "rparen":
                raise TemplateError("unclosed left paren")
            chain: tuple[str, ...] = ()
            after = self.peek()
            if after is not None and after.kind == "field":
                self.pos += 1
                chain = tuple(p for p in after.text.split(".") if p)
            return _Operand("pipe", pipe=inner, chain=chain)
        if tok.kind == "dot":
            return _Operand("dot")
        if tok.kind == "field":
            return _Operand("field", chain=tuple(p for p in tok.text.split(".") if p))
        if tok.kind == "var":
            head, _, rest = tok.text.partition(".")
            return _Operand("var", name=head, chain=tuple(p for p in rest.split(".") if p))
        if tok.kind in ("str", "num"):
            return _Operand("literal", value=tok.value)
        if tok.kind == "ident":
            if tok.text in ("true", "false"):
                return _Operand("literal", value=tok.text == "true")
            if tok.text == "nil":
                return _Operand("literal", value=None)
            return _Operand("func", name=tok.text)
        raise TemplateError(f"unexpected {tok.text!r} in operand")


def _parse(src: str) -> list[_Node]:
    root: list[_Node] = []
    # Stack of (node, which list is being filled) for if/range/with blocks.
    stack: list[tuple[_Node | None, list[_Node]]] = [(None, root)]
    for kind, piece in _split_actions(src):
        current = stack[-1][1]
        if kind == "text":
            current.append(_Node("text", text=piece))
            continue
        if piece.startswith("/*"):
            continue
        toks = _lex(piece)
        if not toks:
            raise TemplateError("missing value for command")
        head = toks[0]
        word = head.text if head.kind == "ident" else ""
        if word in ("if", "range", "with"):
            node = _Node(word, pipe=_Parser(toks[1:]).pipeline())
            current.append(node)
            stack.append((node, node.body))
        elif word == "else":
            block, _ = stack[-1]
            if block is None:
                raise TemplateError("unexpected {{else}}")
            if len(toks) > 1 and toks[1].kind == "ident" and toks[1].text in ("if", "with"):
                # `else if` nests a new block that ends with the same {{end}}.
                inner = _Node(toks[1].text, pipe=_Parser(toks[2:]).pipeline())
                block.orelse.append(inner)
                stack[-1] = (block, block.orelse)
                stack.append((inner, inner.body))
                stack[-1] = (inner, inner.body)
                # Mark so that `end` pops both levels.
                inner.text = "chained"
            else:
                stack[-1] = (block, block.orelse)
        elif word == "end":
            if len(stack) == 1:
                raise TemplateError("unexpected {{end}}")
            while True:
                block, _ = stack.pop()
                if block is None or block.text != "chained":
                    break
        else:
            parser = _Parser(toks)
            pipe = parser.pipeline()
            current.append(_Node("action", pipe=pipe))
    if len(stack) != 1:
        raise TemplateError("unexpected EOF: missing {{end}}")
    return root


# ---------------------------------------------------------------- values


class _Missing:
    """A key absent from a map: Go prints it as `<no value>`."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()


def _go_float(value: float) -> str:
    """Go's %v for float64: shortest digits, exponent form below 1e-4 or from 1e6."""
    from decimal import Decimal

    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp = len(digits) + exponent - 1
    minus = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    return minus + format(Decimal(text).scaleb(exponent), "f")


def to_text(value: Any) -> str:
    """Go's fmt %v rendering of a decoded JSON value."""
    if isinstance(value, _Missing):
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, dict):
        inner = " ".join(f"{to_text(k)}:{to_text(v)}" for k, v in sorted(value.items()))
        return f"map[{inner}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(to_text(v) for v in value) + "]"
    return str(value)


def _truth(value: Any) -> bool:
    if isinstance(value, _Missing) or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple | dict):
        return len(value) > 0
    return True


def to_json(value: Any) -> str:
    """Docker's `json` function: compact, no HTML escaping."""
    if isinstance(value, _Missing):
        value = None
    return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not callable(v)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _field(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        # Docker executes with missingkey=error (and struct contexts have no such field).
        found = value.get(name, MISSING)
        if isinstance(found, _Missing):
            raise TemplateError(f'map has no entry for key "{name}"')
        return found
    if isinstance(value, _Missing) or value is None:
        raise TemplateError(f"nil pointer evaluating interface {{}}.{name}")
    attr = getattr(value, name, MISSING)
    if isinstance(attr, _Missing):
        raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")
    return attr


def _cmp(a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(a, _Missing) or isinstance(b, _Missing):
        raise TemplateError("incompatible types for comparison")
    return a, b


def _eq(a: Any, *others: Any) -> bool:
    return any(_cmp(a, b)[0] == b for b in others)


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key, MISSING)
        elif isinstance(value, list | tuple | str):
            value = value[int(key)]
        else:
            raise TemplateError(f"can't index item of type {type(value).__name__}")
    return value


def _printf(fmt: str, *args: Any) -> str:
    # Go verbs map onto Python's %-formatting for the common cases.
    conv = [to_text(a) if isinstance(a, dict | list | _Missing) or a is None else a for a in args]
    py_fmt = fmt.replace("%v", "%s").replace("%q", "%r")
    try:
        return py_fmt % tuple(conv)
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"printf: {exc}") from None


def _join(items: Any, sep: str) -> str:
    if isinstance(items, dict):
        items = list(items.values())
    if not isinstance(items, list | tuple):
        raise TemplateError("join: argument is not a list")
    return sep.join(to_text(i) for i in items)


def _truncate(text: Any, width: int) -> str:
    return str(text)[: int(width)]


def _pad(text: Any, before: int, after: int) -> str:
    return " " * int(before) + to_text(text) + " " * int(after)


def _title(text: Any) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in to_text(text).split(" "))


def _length(value: Any) -> int:
    if isinstance(value, str | list | tuple | dict):
        return len(value)
    raise TemplateError(f"len of type {type(value).__name__}")


FUNCS: dict[str, Callable[..., Any]] = {
    "json": to_json,
    "join": _join,
    "split": lambda s, sep: to_text(s).split(sep),
    "lower": lambda s: to_text(s).lower(),
    "upper": lambda s: to_text(s).upper(),
    "title": _title,
    "truncate": _truncate,
    "pad": _pad,
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "lt": lambda a, b: _cmp(a, b)[0] < b,
    "le": lambda a, b: _cmp(a, b)[0] <= b,
    "gt": lambda a, b: _cmp(a, b)[0] > b,
    "ge": lambda a, b: _cmp(a, b)[0] >= b,
    "not": lambda a: not _truth(a),
    "len": _length,
    "index": _index,
    "print": lambda *a: "".join(to_text(x) for x in a),
    "println": lambda *a: " ".join(to_text(x) for x in a) + "\n",
    "printf": _printf,
}


# ---------------------------------------------------------------- execution


class _Exec:
    def __init__(self, root: Any) -> None:
        self.vars: list[dict[str, Any]] = [{"$": root}]
        self.out: list[str] = []

    def lookup(self, name: str) -> Any:
        for scope in reversed(self.vars):
            if name in scope:
                return scope[name]
        raise TemplateError(f'undefined variable "{name}"')

    def walk(self, nodes: Sequence[_Node], dot: Any) -> None:
        for node in nodes:
            if node.kind == "text":
                self.out.append(node.text)
            elif node.kind == "action":
                assert node.pipe is not None
                value = self.pipeline(node.pipe, dot)
                if not node.pipe.decl:
                    self.out.append(to_text(value))
            elif node.kind == "if":
                assert node.pipe is not None
                self.vars.append({})
                cond = self.pipeline(node.pipe, dot)
                self.walk(node.body if _truth(cond) else node.orelse, dot)
                self.vars.pop()
            elif node.kind == "with":
                assert node.pipe is not None
                self.vars.append({})
                value = self.pipeline(node.pipe, dot)
                if _truth(value):
                    self.walk(node.body, value)
                else:
                    self.walk(node.orelse, dot)
                self.vars.pop()
            elif node.kind == "range":
                self.range(node, dot)

    def range(self, node: _Node, dot: Any) -> None:
        assert node.pipe is not None
        decl = node.pipe.decl
        node.pipe.decl = []
        try:
            value = self.pipeline(node.pipe, dot)
        finally:
            node.pipe.decl = decl
        if isinstance(value, dict):
            items: list[tuple[Any, Any]] = sorted(value.items())
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        elif value is None or isinstance(value, _Missing):
            items = []
        else:
            raise TemplateError(f"range can't iterate over {to_text(value)}")
        if not items:
            self.walk(node.orelse, dot)
            return
        for key, item in items:
            scope: dict[str, Any] = {}
            if len(decl) == 1:
                scope[decl[0]] = item
            elif len(decl) >= 2:
                scope[decl[0]] = key
                scope[decl[1]] = item
            self.vars.append(scope)
            self.walk(node.body, item)
            self.vars.pop()

    def pipeline(self, pipe: _Pipeline, dot: Any) -> Any:
        value: Any = MISSING
        first = True
        for cmd in pipe.cmds:
            value = self.command(cmd, dot, None if first else (value,))
            first = False
        for name in pipe.decl[:1]:
            if pipe.assign:
                for scope in reversed(self.vars):
                    if name in scope:
                        scope[name] = value
                        break
                else:
                    raise TemplateError(f'undefined variable "{name}"')
            else:
                self.vars[-1][name] = value
        return value

    def command(self, cmd: list[_Operand], dot: Any, piped: tuple[Any, ...] | None) -> Any:
        head = cmd[0]
        if head.kind == "func" and head.name in ("and", "or"):
            return self.and_or(head.name == "and", cmd[1:], dot, piped)
        args = [self.arg(op, dot) for op in cmd[1:]]
        extra = list(piped or ())
        if head.kind == "func":
            fn = FUNCS.get(head.name)
            if fn is None:
                raise TemplateError(f'function "{head.name}" not defined')
            try:
                return fn(*args, *extra)
            except TemplateError:
                raise
            except (TypeError, ValueError, IndexError, KeyError) as exc:
                raise TemplateError(f"error calling {head.name}: {exc}") from None
        value = self.arg(head, dot, call_args=args + extra)
        if (args or extra) and not callable(self._base(head, dot)):
            raise TemplateError("can't give argument to non-function")
        return value

    def and_or(
        self, is_and: bool, ops: list[_Operand], dot: Any, piped: tuple[Any, ...] | None
    ) -> Any:
        # Go's and/or short-circuit and return the deciding operand itself.
        if not ops and not piped:
            raise TemplateError("and/or needs arguments")
        result: Any = None
        for op in ops:
            result = self.arg(op, dot)
            if is_and != _truth(result):
                return result
        for result in piped or ():
            if is_and != _truth(result):
                return result
        return result

    def _base(self, op: _Operand, dot: Any) -> Any:
        if op.kind == "field" and op.chain:
            parent = dot
            for name in op.chain[:-1]:
                parent = _field(parent, name)
            return _field(parent, op.chain[-1])
        return None

    def arg(self, op: _Operand, dot: Any, call_args: list[Any] | None = None) -> Any:
        if op.kind == "dot":
            return dot
        if op.kind == "literal":
            return op.value
        if op.kind == "func":
            if op.name in ("and", "or"):
                raise TemplateError(f"{op.name} needs arguments")
            fn = FUNCS.get(op.name)
            if fn is None:
                raise TemplateError(f'function "{op.name}" not defined')
            return fn()
        if op.kind == "pipe":
            assert op.pipe is not None
            base = self.pipeline(op.pipe, dot)
        elif op.kind == "var":
            base = self.lookup(op.name)
        else:
            base = dot
        for i, name in enumerate(op.chain):
            base = _field(base, name)
            if callable(base):
                last = i == len(op.chain) - 1
                base = base(*(call_args or [])) if last else base()
        return base


class Template:
    """A parsed template; `render(value)` executes it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes = _parse(source)

    def render(self, value: Any) -> str:
        ex = _Exec(value)
        ex.walk(self.nodes, value)
        return "".join(ex.out)


__all__ = ["Template", "TemplateError", "render", "to_json", "to_text"]


def render(source: str, value: Any) -> str:
    return Template(source).render(value)
