"""Small HTML building blocks; every dynamic value goes through `esc`."""

from __future__ import annotations

import html
import time
from collections.abc import Iterable

from dockyard.hub.accounts import Account
from dockyard.hub.search import RepoSummary


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def ago(stamp: float | None) -> str:
    if not stamp:
        return "never"
    d = max(0, int(time.time() - stamp))
    for unit, secs in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if d >= secs:
            n = d // secs
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(token)}">'


def page(
    title: str,
    body: str,
    *,
    account: Account | None,
    csrf: str,
    query: str = "",
    flash: str = "",
    error: str = "",
) -> str:
    if account is not None:
        nav = (
            f'<a href="/u/{esc(account.name)}">{esc(account.name)}</a>'
            '<a href="/settings/tokens">Tokens</a>'
            '<a href="/orgs/new">New organisation</a>'
            f'<form method="post" action="/logout" class="inline">{csrf_field(csrf)}'
            '<button class="link" type="submit">Log out</button></form>'
        )
    else:
        nav = '<a href="/login">Log in</a><a class="button" href="/signup">Sign up</a>'
    notes = ""
    if flash:
        notes += f'<p class="flash">{esc(flash)}</p>'
    if error:
        notes += f'<p class="error" role="alert">{esc(error)}</p>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · dockyard hub</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body><header class="top"><div class="wrap">
<a class="brand" href="/"><span class="logo">⚓</span> dockyard hub</a>
<form class="search" method="get" action="/search" role="search">
<input type="search" name="q" value="{esc(query)}" placeholder="Search images"
 aria-label="Search images">
</form><nav>{nav}</nav></div></header>
<main class="wrap">{notes}{body}</main>
<footer class="wrap">dockyard hub · an OCI distribution registry ·
<a href="/v2/">API</a></footer></body></html>"""


def repo_cards(repos: Iterable[RepoSummary]) -> str:
    items = []
    for r in repos:
        badge = '<span class="badge">Official</span>' if r.official else ""
        lock = '<span class="badge private">Private</span>' if r.private else ""
        items.append(
            f'<li class="card"><a href="/r/{esc(r.display_name)}">'
            f"<h3>{esc(r.display_name)} {badge}{lock}</h3>"
            f"<p>{esc(r.description or 'No description')}</p>"
            f'<p class="meta">★ {r.stars} · {r.pulls} pulls · updated {ago(r.pushed)}</p>'
            "</a></li>"
        )
    if not items:
        return '<p class="muted">Nothing here yet.</p>'
    return '<ul class="cards">' + "".join(items) + "</ul>"
