"""Pages of the web UI: landing, search, repositories, users, sign-up, tokens, orgs."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from dockyard.hub import accounts
from dockyard.hub.access import RepoFacts, can_manage, can_see
from dockyard.hub.api_token import login
from dockyard.hub.db import transaction
from dockyard.hub.errors import AccountError, HubError, InvalidName, RegistryError
from dockyard.hub.names import canonical, display
from dockyard.hub.search import namespace_repos, official_repos, search_repos
from dockyard.hub.state import Hub
from dockyard.hub.web import markdown
from dockyard.hub.web.html import ago, csrf_field, esc, human_size, page, repo_cards
from dockyard.hub.web.repo_view import tag_infos
from dockyard.hub.web.session import (
    SESSION_COOKIE,
    check_csrf,
    csrf_token,
    current_account,
    request_principal,
    set_pre_csrf,
)

STATIC = Path(__file__).parent / "static"
PAGE = 20
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; form-action 'self';"
    " frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _hub(request: web.Request) -> Hub:
    hub: Hub = request.app["hub"]
    return hub


def render(
    request: web.Request,
    title: str,
    body: str,
    *,
    status: int = 200,
    query: str = "",
    flash: str = "",
    error: str = "",
) -> web.Response:
    text = page(
        title,
        body,
        account=current_account(request),
        csrf=csrf_token(request),
        query=query,
        flash=flash or request.query.get("flash", ""),
        error=error,
    )
    resp = web.Response(
        text=text, content_type="text/html", status=status, headers=SECURITY_HEADERS
    )
    set_pre_csrf(request, resp)
    return resp


def redirect(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


async def form_of(request: web.Request) -> dict[str, str]:
    data = await request.post()
    form = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    if not check_csrf(request, form.get("csrf", "")):
        raise web.HTTPForbidden(text="CSRF token missing or wrong; reload the page and retry")
    return form


def need_login(request: web.Request) -> accounts.Account:
    acct = current_account(request)
    if acct is None:
        raise redirect(f"/login?next={request.path}")
    return acct


# --- landing and search --------------------------------------------------------------


async def landing(request: web.Request) -> web.Response:
    hub = _hub(request)
    who = await request_principal(request)
    official = official_repos(hub.conn)
    _, recent = search_repos(hub.conn, who, "", 12, 0)
    community = [r for r in recent if not r.official][:9]
    body = f"""<section class="hero"><h1>Build, share and run containers</h1>
<p>Official images and the images of everyone on this hub, served over the OCI distribution API.</p>
<form method="get" action="/search"><input type="search" name="q" placeholder="Search images"
aria-label="Search images"><button type="submit">Search</button></form></section>
<h2>Official images</h2>{repo_cards(official)}
<h2>Community images</h2>{repo_cards(community)}"""
    return render(request, "Home", body)


async def search_page(request: web.Request) -> web.Response:
    hub = _hub(request)
    q = request.query.get("q", "")
    try:
        pg = max(1, int(request.query.get("page", "1")))
    except ValueError:
        pg = 1
    who = await request_principal(request)
    total, rows = search_repos(hub.conn, who, q, PAGE, (pg - 1) * PAGE)
    pager = '<div class="pager">'
    if pg > 1:
        pager += f'<a href="/search?q={esc(q)}&amp;page={pg - 1}">← Previous</a>'
    if pg * PAGE < total:
        pager += f'<a href="/search?q={esc(q)}&amp;page={pg + 1}">Next →</a>'
    pager += "</div>"
    body = (
        f'<h1>Results for “{esc(q)}”</h1><p class="muted">{total} repositories</p>'
        f"{repo_cards(rows)}{pager}"
    )
    return render(request, f"Search {q}", body, query=q)


# --- repositories --------------------------------------------------------------------


async def repo_page(request: web.Request) -> web.Response:
    hub = _hub(request)
    try:
        repo = canonical(request.match_info["name"])
    except InvalidName as e:
        raise web.HTTPNotFound(text=str(e)) from e
    who = await request_principal(request)
    row = hub.conn.execute("SELECT * FROM repos WHERE name = ?", (repo,)).fetchone()
    if row is None or not can_see(who, RepoFacts(repo, True, bool(row["private"]))):
        return render(request, "Not found", "<h1>Repository not found</h1>", status=404)
    shown = display(repo)
    host = request.host
    tags = tag_infos(hub.conn, hub.store, repo)
    stars = hub.conn.execute("SELECT COUNT(*) FROM stars WHERE repo = ?", (repo,)).fetchone()[0]
    acct = current_account(request)
    starred = (
        acct is not None
        and hub.conn.execute(
            "SELECT 1 FROM stars WHERE repo = ? AND user_id = ?", (repo, acct.id)
        ).fetchone()
        is not None
    )
    csrf = csrf_field(csrf_token(request))
    first_tag = tags[0].tag if tags else "latest"
    pull = (
        f"docker pull {host}/{shown}:{first_tag}"
        if first_tag != "latest"
        else (f"docker pull {host}/{shown}")
    )
    rows = (
        "".join(
            f'<tr><td><strong>{esc(t.tag)}</strong></td><td><code title="{esc(t.digest)}">'
            f"{esc(t.digest[:19])}…</code></td><td>{esc(', '.join(t.platforms) or '—')}</td>"
            f"<td>{human_size(t.size)}</td><td>{ago(t.updated)}</td></tr>"
            for t in tags
        )
        or '<tr><td colspan="5" class="muted">No tags</td></tr>'
    )
    star_form = ""
    if acct is not None:
        star_form = (
            f'<form method="post" action="/r/{esc(shown)}/star" class="inline">{csrf}'
            f'<button class="secondary" type="submit">{"★ Unstar" if starred else "☆ Star"}'
            "</button></form>"
        )
    badge = '<span class="badge">Official</span>' if repo.startswith("library/") else ""
    if row["private"]:
        badge += ' <span class="badge private">Private</span>'
    readme = (
        f'<div class="readme">{markdown.render(row["readme"])}</div>'
        if row["readme"]
        else '<p class="muted">No README yet.</p>'
    )
    settings = ""
    if can_manage(who, repo):
        checked = " checked" if row["private"] else ""
        settings = f"""<section class="panel"><h2>Settings</h2>
<form method="post" action="/r/{esc(shown)}/settings" class="form wide">{csrf}
<label for="description">Short description</label>
<input type="text" id="description" name="description" maxlength="300"
 value="{esc(row["description"])}" style="width:100%">
<label for="readme">README</label>
<textarea id="readme" name="readme" maxlength="100000">{esc(row["readme"])}</textarea>
<label><input type="checkbox" name="private" value="1"{checked}> Private repository</label>
<button type="submit">Save</button></form></section>"""
    body = f"""<div class="repo-head"><div><h1>{esc(shown)} {badge}</h1>
<p class="muted">{esc(row["description"] or "No description")}</p>
<p class="meta">★ {stars} · {row["pulls"]} pulls · last push {ago(row["pushed"])}</p>
{star_form}</div>
<div class="pull"><span class="label">Pull this image</span><code>{esc(pull)}</code></div>
</div>
<section class="panel"><h2>Tags</h2><table><thead><tr><th>Tag</th><th>Digest</th>
<th>Platforms</th><th>Size</th><th>Pushed</th></tr></thead><tbody>{rows}</tbody></table>
</section><section class="panel"><h2>Overview</h2>{readme}</section>{settings}"""
    return render(request, shown, body)


async def repo_settings(request: web.Request) -> web.Response:
    hub = _hub(request)
    need_login(request)
    form = await form_of(request)
    try:
        repo = canonical(request.match_info["name"])
    except InvalidName as e:
        raise web.HTTPNotFound(text=str(e)) from e
    who = await request_principal(request)
    if not can_manage(who, repo):
        raise web.HTTPForbidden(text="only the repository's owners may change it")
    description = form.get("description", "")[:300]
    readme = form.get("readme", "")[:100_000]
    private = 1 if form.get("private") else 0
    with transaction(hub.conn):
        cur = hub.conn.execute(
            "UPDATE repos SET description = ?, readme = ?, private = ? WHERE name = ?",
            (description, readme, private, repo),
        )
    if cur.rowcount == 0:
        raise web.HTTPNotFound(text="no such repository")
    raise redirect(f"/r/{display(repo)}?flash=Saved")


async def star(request: web.Request) -> web.Response:
    hub = _hub(request)
    acct = need_login(request)
    await form_of(request)
    try:
        repo = canonical(request.match_info["name"])
    except InvalidName as e:
        raise web.HTTPNotFound(text=str(e)) from e
    who = await request_principal(request)
    row = hub.conn.execute("SELECT private FROM repos WHERE name = ?", (repo,)).fetchone()
    if row is None or not can_see(who, RepoFacts(repo, True, bool(row["private"]))):
        raise web.HTTPNotFound(text="no such repository")
    with transaction(hub.conn):
        cur = hub.conn.execute("DELETE FROM stars WHERE user_id = ? AND repo = ?", (acct.id, repo))
        if cur.rowcount == 0:
            hub.conn.execute("INSERT INTO stars (user_id, repo) VALUES (?, ?)", (acct.id, repo))
    raise redirect(f"/r/{display(repo)}")


# --- users ---------------------------------------------------------------------------


async def user_page(request: web.Request) -> web.Response:
    hub = _hub(request)
    name = request.match_info["name"]
    acct = accounts.get_account(hub.conn, name)
    if acct is None:
        return render(request, "Not found", "<h1>No such user</h1>", status=404)
    who = await request_principal(request)
    repos = namespace_repos(hub.conn, who, name)
    kind = "Organisation" if acct.kind == "org" else "User"
    extra = ""
    if acct.kind == "org":
        me = current_account(request)
        if me is not None and accounts.org_role(hub.conn, name, me.name) == "owner":
            extra = f'<p><a href="/orgs/{esc(name)}/settings">Organisation settings</a></p>'
    else:
        orgs = accounts.user_orgs(hub.conn, name)
        if orgs:
            extra = (
                '<p class="muted">Member of '
                + ", ".join(f'<a href="/u/{esc(o)}">{esc(o)}</a>' for o, _ in orgs)
                + "</p>"
            )
    body = (
        f'<h1>{esc(name)}</h1><p class="muted">{kind} · joined {ago(acct.created)}</p>'
        f"{extra}<h2>Repositories</h2>{repo_cards(repos)}"
    )
    return render(request, name, body)


def _auth_form(action: str, title: str, button: str, csrf: str, extra: str = "") -> str:
    return f"""<h1>{title}</h1><form method="post" action="{action}" class="form panel">
{csrf_field(csrf)}<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" required>
<label for="password">Password</label>
<input type="password" id="password" name="password" required
 autocomplete="{"new-password" if action == "/signup" else "current-password"}">
{extra}<button type="submit">{button}</button></form>"""


async def signup_form(request: web.Request) -> web.Response:
    if not _hub(request).config.signup:
        return render(request, "Sign up", "<h1>Sign-up is closed on this hub</h1>", status=403)
    return render(
        request,
        "Sign up",
        _auth_form("/signup", "Create an account", "Sign up", csrf_token(request)),
    )


async def signup(request: web.Request) -> web.Response:
    hub = _hub(request)
    if not hub.config.signup:
        raise web.HTTPForbidden(text="sign-up is closed")
    form = await form_of(request)
    # Account creation costs a scrypt hash and a row: bounded per client like logins.
    key, now = f"signup:{request.remote}", time.monotonic()
    wait = hub.limiter.retry_after(key, now)
    if wait:
        resp = render(
            request,
            "Sign up",
            "<h1>Too many sign-ups</h1>",
            status=429,
            error=f"too many sign-ups from your address; retry in {wait} s",
        )
        resp.headers["Retry-After"] = str(wait)
        return resp
    hub.limiter.spend(key, now)
    try:
        acct = accounts.create_user(hub.conn, form.get("username", ""), form.get("password", ""))
    except (AccountError, InvalidName) as e:
        body = _auth_form("/signup", "Create an account", "Sign up", csrf_token(request))
        return render(request, "Sign up", body, status=400, error=str(e))
    return _start_session(request, acct, f"/u/{acct.name}")


def _start_session(request: web.Request, acct: accounts.Account, to: str) -> web.Response:
    sid, _ = accounts.create_session(_hub(request).conn, acct)
    resp = redirect(to)
    resp.set_cookie(
        SESSION_COOKIE,
        sid,
        httponly=True,
        samesite="Lax",
        secure=request.secure,
        path="/",
        max_age=accounts.SESSION_TTL,
    )
    raise resp


async def login_form(request: web.Request) -> web.Response:
    body = _auth_form(
        f"/login?next={esc(request.query.get('next', '/'))}",
        "Log in",
        "Log in",
        csrf_token(request),
        '<p class="muted">No account? <a href="/signup">Sign up</a></p>',
    )
    return render(request, "Log in", body)


async def login_post(request: web.Request) -> web.Response:
    hub = _hub(request)
    form = await form_of(request)
    nxt = request.query.get("next", "/")
    if not nxt.startswith("/") or nxt.startswith(("//", "/\\")):
        nxt = "/"
    try:
        who = await login(hub, request, form.get("username", ""), form.get("password", ""))
    except RegistryError as e:
        body = _auth_form(f"/login?next={esc(nxt)}", "Log in", "Log in", csrf_token(request))
        resp = render(request, "Log in", body, status=e.status, error=e.message)
        resp.headers.update(e.headers)
        return resp
    if who.read_only:
        body = _auth_form("/login", "Log in", "Log in", csrf_token(request))
        return render(
            request,
            "Log in",
            body,
            status=403,
            error="read-only access tokens cannot open a web session",
        )
    return _start_session(request, who.account, nxt)


async def logout(request: web.Request) -> web.Response:
    await form_of(request)
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        accounts.delete_session(_hub(request).conn, sid)
    resp = redirect("/")
    resp.del_cookie(SESSION_COOKIE, path="/")
    raise resp


# --- access tokens -------------------------------------------------------------------


async def tokens_page(request: web.Request, new_token: str = "", error: str = "") -> web.Response:
    acct = need_login(request)
    rows = accounts.list_access_tokens(_hub(request).conn, acct.name)
    csrf = csrf_field(csrf_token(request))
    listed = (
        "".join(
            f"<tr><td>{esc(r['name'])}</td><td>{esc(r['access'])}</td><td>{ago(r['created'])}</td>"
            f'<td>{ago(r["last_used"])}</td><td><form method="post" action="/settings/tokens/'
            f'{r["id"]}/delete" class="inline">{csrf}<button class="secondary" type="submit">'
            "Revoke</button></form></td></tr>"
            for r in rows
        )
        or '<tr><td colspan="5" class="muted">No tokens yet</td></tr>'
    )
    shown = ""
    if new_token:
        shown = (
            f'<section class="panel"><h2>Your new token</h2><p>Copy it now; it is not shown'
            f" again. Use it as the password of <code>docker login</code>.</p>"
            f'<p class="token">{esc(new_token)}</p></section>'
        )
    body = f"""<h1>Personal access tokens</h1>{shown}
<section class="panel"><h2>New token</h2><form method="post" action="/settings/tokens"
 class="row">{csrf}<input type="text" name="name" placeholder="Description" required
 maxlength="100" aria-label="Token description"><select name="access" aria-label="Access">
<option value="write">Read &amp; write</option><option value="read">Read-only</option></select>
<button type="submit">Generate</button></form></section>
<section class="panel"><table><thead><tr><th>Description</th><th>Access</th><th>Created</th>
<th>Last used</th><th></th></tr></thead><tbody>{listed}</tbody></table></section>"""
    return render(request, "Access tokens", body, error=error)


async def tokens_create(request: web.Request) -> web.Response:
    acct = need_login(request)
    form = await form_of(request)
    try:
        token = accounts.create_access_token(
            _hub(request).conn, acct.name, form.get("name", ""), form.get("access", "write")
        )
    except AccountError as e:
        return await tokens_page(request, error=str(e))
    return await tokens_page(request, new_token=token)


async def tokens_delete(request: web.Request) -> web.Response:
    acct = need_login(request)
    await form_of(request)
    accounts.revoke_access_token(_hub(request).conn, acct.name, int(request.match_info["id"]))
    raise redirect("/settings/tokens?flash=Token revoked")


# --- organisations -------------------------------------------------------------------


async def org_new_form(request: web.Request) -> web.Response:
    need_login(request)
    body = f"""<h1>New organisation</h1><form method="post" action="/orgs/new" class="form panel">
{csrf_field(csrf_token(request))}<label for="name">Organisation name</label>
<input type="text" id="name" name="name" required><button type="submit">Create</button></form>"""
    return render(request, "New organisation", body)


async def org_new(request: web.Request) -> web.Response:
    acct = need_login(request)
    form = await form_of(request)
    try:
        accounts.create_org(_hub(request).conn, form.get("name", ""), acct.name)
    except (AccountError, InvalidName) as e:
        return render(
            request, "New organisation", "<h1>New organisation</h1>", status=400, error=str(e)
        )
    raise redirect(f"/orgs/{form['name']}/settings")


def _org_owner(request: web.Request) -> str:
    acct = need_login(request)
    org = request.match_info["org"]
    if accounts.org_role(_hub(request).conn, org, acct.name) != "owner" and not acct.is_admin:
        raise web.HTTPForbidden(text="only the organisation's owners may change it")
    return org


async def org_settings(request: web.Request, error: str = "") -> web.Response:
    org = _org_owner(request)
    info = accounts.org_overview(_hub(request).conn, org)
    csrf = csrf_field(csrf_token(request))
    members = info["members"]
    teams = info["teams"]
    assert isinstance(members, list) and isinstance(teams, dict)
    member_rows = "".join(f"<tr><td>{esc(n)}</td><td>{esc(r)}</td></tr>" for n, r in members)
    team_blocks = ""
    for tname, t in teams.items():
        perms = ", ".join(f"{esc(r)}: {esc(p)}" for r, p in t["perms"]) or "no repositories"
        team_blocks += f"""<div class="panel"><h3>{esc(tname)}</h3>
<p class="muted">Members: {esc(", ".join(t["members"]) or "none")}</p><p class="muted">{perms}</p>
<form method="post" action="/orgs/{esc(org)}/teams/{esc(tname)}/members" class="row">{csrf}
<input type="text" name="user" placeholder="username" required aria-label="username">
<button type="submit">Add member</button></form>
<form method="post" action="/orgs/{esc(org)}/teams/{esc(tname)}/perms" class="row">{csrf}
<input type="text" name="repo" placeholder="repository or *" required aria-label="repository">
<select name="perm" aria-label="permission"><option>pull</option><option>push</option>
<option>admin</option></select><button type="submit">Grant</button></form></div>"""
    body = f"""<h1>{esc(org)} · settings</h1>
<section class="panel"><h2>Members</h2><table><tbody>{member_rows}</tbody></table>
<form method="post" action="/orgs/{esc(org)}/members" class="row">{csrf}
<input type="text" name="user" placeholder="username" required aria-label="username">
<select name="role" aria-label="role"><option>member</option><option>owner</option></select>
<button type="submit">Add</button></form></section>
<section class="panel"><h2>Teams</h2>{team_blocks}
<form method="post" action="/orgs/{esc(org)}/teams" class="row">{csrf}
<input type="text" name="team" placeholder="team name" required aria-label="team name">
<button type="submit">Create team</button></form></section>"""
    return render(request, f"{org} settings", body, error=error)


def _org_action(
    act: Callable[[sqlite3.Connection, str, dict[str, str], dict[str, str]], None],
) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        org = _org_owner(request)
        form = await form_of(request)
        try:
            act(_hub(request).conn, org, dict(request.match_info), form)
        except HubError as e:
            return await org_settings(request, error=str(e))
        raise redirect(f"/orgs/{org}/settings?flash=Saved")

    return handler


def _add_member(conn: sqlite3.Connection, org: str, m: dict[str, str], f: dict[str, str]) -> None:
    accounts.add_member(conn, org, f.get("user", ""), f.get("role", "member"))


def _add_team(conn: sqlite3.Connection, org: str, m: dict[str, str], f: dict[str, str]) -> None:
    accounts.create_team(conn, org, f.get("team", ""))


def _team_member(conn: sqlite3.Connection, org: str, m: dict[str, str], f: dict[str, str]) -> None:
    accounts.add_team_member(conn, org, m["team"], f.get("user", ""))


def _team_perm(conn: sqlite3.Connection, org: str, m: dict[str, str], f: dict[str, str]) -> None:
    accounts.grant_team(conn, org, m["team"], f.get("repo", ""), f.get("perm", ""))


async def static(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "style.css", headers={"Cache-Control": "max-age=3600"})


def install(app: web.Application) -> None:
    r = app.router
    r.add_get("/", landing)
    r.add_get("/search", search_page)
    r.add_get("/static/style.css", static)
    r.add_get("/signup", signup_form)
    r.add_post("/signup", signup)
    r.add_get("/login", login_form)
    r.add_post("/login", login_post)
    r.add_post("/logout", logout)
    r.add_get("/settings/tokens", tokens_page)
    r.add_post("/settings/tokens", tokens_create)
    r.add_post(r"/settings/tokens/{id:\d+}/delete", tokens_delete)
    r.add_get("/orgs/new", org_new_form)
    r.add_post("/orgs/new", org_new)
    r.add_get("/orgs/{org}/settings", org_settings)
    r.add_post("/orgs/{org}/members", _org_action(_add_member))
    r.add_post("/orgs/{org}/teams", _org_action(_add_team))
    r.add_post("/orgs/{org}/teams/{team}/members", _org_action(_team_member))
    r.add_post("/orgs/{org}/teams/{team}/perms", _org_action(_team_perm))
    r.add_get("/u/{name}", user_page)
    r.add_post("/r/{name:.+}/settings", repo_settings)
    r.add_post("/r/{name:.+}/star", star)
    r.add_get("/r/{name:.+}", repo_page)
