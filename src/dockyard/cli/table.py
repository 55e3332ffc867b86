"""Docker's output formatting: Go tabwriter columns and `--format` rendering of row lists.

The docker CLI writes tables through tabwriter(minwidth=10, tabwidth=1, padding=3, ' ');
`docker top` uses minwidth 20. A format starting with `table` prints a header row made by
rendering the same template on the header names."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-separated cells as Go's text/tabwriter does (one column block per column).

    A cell is tab-terminated; the text after the last tab of a line is not part of a column.
    Column widths are computed over runs of consecutive lines that have that column."""
    lines = text.split("\n")
    rows = [line.split("\t") for line in lines]
    # For each row, the cells that belong to columns (all but the trailing text).
    widths: list[list[int]] = [[0] * (len(r) - 1) for r in rows]
    ncols = max((len(r) - 1 for r in rows), default=0)
    for col in range(ncols):
        i = 0
        while i < len(rows):
            if len(rows[i]) - 1 <= col:
                i += 1
                continue
            j = i
            width = minwidth
            while j < len(rows) and len(rows[j]) - 1 > col:
                width = max(width, len(rows[j][col]) + padding)
                j += 1
            for k in range(i, j):
                widths[k][col] = width
            i = j
    out: list[str] = []
    for row, row_widths in zip(rows, widths, strict=True):
        cells = [cell.ljust(w) for cell, w in zip(row[:-1], row_widths, strict=True)]
        out.append("".join(cells) + row[-1])
    return "\n".join(out)


def simple_fields(body: str) -> list[tuple[str, str]] | None:
    """[(literal text, field name or '')] when every action is a bare `{{.Field}}`."""
    out: list[tuple[str, str]] = []
    rest = body
    while True:
        start = rest.find("{{")
        if start < 0:
            out.append((rest, ""))
            return out
        end = rest.find("}}", start)
        if end < 0:
            return None
        field = rest[start + 2 : end].strip()
        if not (field.startswith(".") and field[1:].isidentifier()):
            return None
        out.append((rest[:start], field[1:]))
        rest = rest[end + 2 :]


def prepare_format(fmt: str) -> tuple[bool, str]:
    """(is_table, template text) with Docker's `\\t`/`\\n` escapes turned into characters."""
    is_table = fmt.startswith("table")
    body = fmt[len("table") :] if is_table else fmt
    body = body.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return is_table, body


def render_rows(
    fmt: str, rows: Iterable[Mapping[str, Any]], headers: Mapping[str, str], minwidth: int = 10
) -> str:
    """Render rows with a Docker `--format` value; '' when there is nothing to print."""
    is_table, body = prepare_format(fmt)
    lines: list[str] = []
    simple = simple_fields(body)
    if simple is not None and all(
        isinstance(row.get(f), str) for row in rows for _, f in simple if f
    ):
        # Plain `{{.Field}}` formats (the default tables) need no template engine, which
        # keeps `dockyard ps` from importing it.
        if is_table:
            lines.append("".join(t + (headers.get(f) or f.upper() if f else "") for t, f in simple))
        for row in rows:
            lines.append("".join(t + (str(row[f]) if f else "") for t, f in simple))
    else:
        from dockyard.cli.template import Template

        template = Template(body)
        if is_table:
            header_ctx = {k: v for k, v in headers.items()}
            lines.append(template.render(_HeaderView(header_ctx)))
        for row in rows:
            lines.append(template.render(row))
    if not lines:
        return ""
    text = "\n".join(lines) + "\n"
    return tabwrite(text, minwidth=minwidth) if is_table else text


class _HeaderView(dict[str, object]):
    """Header context: every field renders as its column title; method fields too."""

    def get(self, key: str, default: Any = None) -> Any:
        title = dict.__getitem__(self, key) if key in self else key.upper()

        # A callable, so that method fields with arguments render too; Docker titles
        # `.Label "com.example.app-name"` by the label's last part: "app name".
        def header(*args: Any) -> Any:
            if args:
                return str(args[0]).split(".")[-1].replace("-", " ").replace("_", " ")
            return title

        return header


def simple_table(header: Sequence[str], rows: Iterable[Sequence[str]], minwidth: int = 10) -> str:
    lines = ["\t".join(header)] + ["\t".join(r) for r in rows]
    return tabwrite("\n".join(lines) + "\n", minwidth=minwidth)
