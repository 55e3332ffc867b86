"""Docker's output formatting: Go tabwriter columns and `--format` rendering of row lists.

The docker CLI writes tables through tabwriter(minwidth=10, tabwidth=1, padding=3, ' ');
`docker top` uses minwidth 20. A format starting with `table` prints a header row made by
rendering the same template on the header names."""

from __future__ import annotations

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
    from dockyard.cli.template import Template

    is_table, body = prepare_format(fmt)
    template = Template(body)
    lines: list[str] = []
    if is_table:
        header_ctx = {k: v for k, v in headers.items()}
        lines.append(template.render(_HeaderView(header_ctx)))
    for row in rows:
        lines.append(template.render(row))
    if not lines:
        return ""
    text = "\n".join(lines) + "\n"
    return tabwrite(text, minwidth=minwidth) if is_table else text


class _HeaderView(dict[str, Any]):
    """Header context: every field renders as its column title; method fields too."""

    def get(self, key: str, default: Any = None) -> Any:
        if key in self:
            return dict.__getitem__(self, key)
        return key.upper()


def simple_table(header: Sequence[str], rows: Iterable[Sequence[str]], minwidth: int = 10) -> str:
    lines = ["\t".join(header)] + ["\t".join(r) for r in rows]
    return tabwrite("\n".join(lines) + "\n", minwidth=minwidth)
