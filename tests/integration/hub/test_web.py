"""The web UI over HTTP: sign-up, log-in, CSRF, repository pages, tokens, organisations."""

from __future__ import annotations

import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

import hubtools as ht
import pytest
from hubtools import USERS, client

pytestmark = pytest.mark.root


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@dataclass
class Browser:
    base: str
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def _open(self, req: urllib.request.Request) -> ht.Reply:
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )
        try:
            with opener.open(req, timeout=30) as resp:
                return ht.Reply(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as e:
            return ht.Reply(e.code, e.headers, e.read())

    def get(self, path: str) -> ht.Reply:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, form: dict[str, str]) -> ht.Reply:
        data = urllib.parse.urlencode(form).encode()
        return self._open(urllib.request.Request(self.base + path, data=data, method="POST"))

    @staticmethod
    def csrf(html: str) -> str:
        m = re.search(r'name="csrf" value="([^"]+)"', html)
        assert m, "no CSRF field on the page"
        return m.group(1)

    def login(self, user: str, password: str) -> ht.Reply:
        page = self.get("/login").body.decode()
        r = self.post("/login", {"csrf": self.csrf(page), "username": user, "password": password})
        assert r.status == 303, r.body[:300]
        return r


def test_pages_render_without_login(hub: ht.HubProcess) -> None:
    client(hub, "root").push_image("busybox", "latest")
    web = Browser(hub.url)
    home = web.get("/")
    assert home.status == 200 and b"Official images" in home.body and b"busybox" in home.body
    assert "default-src 'self'" in (home.header("Content-Security-Policy") or "")
    repo = web.get("/r/busybox").body.decode()
    assert f"docker pull {hub.host}/busybox" in repo
    assert "linux/amd64" in repo and "latest" in repo
    assert web.get("/search?q=busy").body.count(b'href="/r/busybox"') == 1
    css = web.get("/static/style.css")
    assert css.status == 200 and b"--brand" in css.body
    assert web.get("/r/nobody/nothing").status == 404
    assert web.get("/u/alice").status == 200


def test_signup_login_logout_and_csrf(hub: ht.HubProcess) -> None:
    web = Browser(hub.url)
    page = web.get("/signup").body.decode()
    r = web.post("/signup", {"csrf": "forged", "username": "dora", "password": "dora-pass-1"})
    assert r.status == 403
    r = web.post("/signup", {"csrf": web.csrf(page), "username": "dora", "password": "dora-pass-1"})
    assert r.status == 303 and r.header("Location") == "/u/dora"
    me = web.get("/u/dora").body.decode()
    assert "Log out" in me
    # the new account works for the registry at once
    dora = ht.Client(hub.url, "dora", "dora-pass-1")
    dora.push_image("dora/first", "v1")
    # a logged-in form without the session's CSRF token is refused
    r = web.post("/logout", {"csrf": "nope"})
    assert r.status == 403
    r = web.post("/logout", {"csrf": web.csrf(me)})
    assert r.status == 303
    assert "Log in" in web.get("/").body.decode()
    # taken names and bad passwords come back as form errors
    page = web.get("/signup").body.decode()
    r = web.post("/signup", {"csrf": web.csrf(page), "username": "dora", "password": "x" * 9})
    assert r.status == 400 and b"already exists" in r.body


def test_owner_edits_description_and_readme_others_cannot(hub: ht.HubProcess) -> None:
    client(hub, "alice").push_image("alice/site", "v1")
    web = Browser(hub.url)
    web.login("alice", USERS["alice"])
    page = web.get("/r/alice/site").body.decode()
    assert "Settings" in page
    r = web.post(
        "/r/alice/site/settings",
        {
            "csrf": web.csrf(page),
            "description": "My <site>",
            "readme": "# Hello\n<script>x</script>",
        },
    )
    assert r.status == 303
    page = web.get("/r/alice/site").body.decode()
    assert "My &lt;site&gt;" in page and "&lt;script&gt;" in page and "<script>" not in page
    r = web.post("/r/alice/site/star", {"csrf": web.csrf(page)})
    assert r.status == 303
    results = ht.request("GET", hub.url + "/v1/search?q=site").json()
    assert results["results"][0]["description"] == "My <site>"
    assert results["results"][0]["star_count"] == 1
    bob = Browser(hub.url)
    bob.login("bob", USERS["bob"])
    page = bob.get("/r/alice/site").body.decode()
    assert "Settings" not in page
    r = bob.post("/r/alice/site/settings", {"csrf": bob.csrf(page), "description": "pwned"})
    assert r.status == 403


def test_organisation_teams_grant_push(hub: ht.HubProcess) -> None:
    web = Browser(hub.url)
    web.login("alice", USERS["alice"])
    page = web.get("/orgs/new").body.decode()
    r = web.post("/orgs/new", {"csrf": web.csrf(page), "name": "acme"})
    assert r.status == 303 and r.header("Location") == "/orgs/acme/settings"
    settings = web.get("/orgs/acme/settings").body.decode()
    csrf = web.csrf(settings)
    bob = client(hub, "bob")
    r = bob.call("POST", "/v2/acme/app/blobs/uploads/")
    assert r.status == 403  # not yet a member
    assert web.post("/orgs/acme/teams", {"csrf": csrf, "team": "devs"}).status == 303
    assert web.post("/orgs/acme/teams/devs/members", {"csrf": csrf, "user": "bob"}).status == 303
    assert (
        web.post(
            "/orgs/acme/teams/devs/perms", {"csrf": csrf, "repo": "app", "perm": "push"}
        ).status
        == 303
    )
    bob = client(hub, "bob")
    bob.push_image("acme/app", "v1")
    r = bob.call("POST", "/v2/acme/other/blobs/uploads/")
    assert r.status == 403 and r.error_codes() == ["DENIED"]
    r = bob.call("DELETE", "/v2/acme/app/manifests/v1")
    assert r.status == 403  # push is not admin
    page = web.get("/orgs/acme/settings").body.decode()
    assert "acme/app: push" in page and "bob" in page
    # bob is not an owner: settings are closed to him
    bweb = Browser(hub.url)
    bweb.login("bob", USERS["bob"])
    assert bweb.get("/orgs/acme/settings").status == 403
    alice = client(hub, "alice")
    assert alice.call("DELETE", "/v2/acme/app/manifests/v1").status == 202


def test_search_api_paging_and_pull_counts(hub: ht.HubProcess) -> None:
    alice = client(hub, "alice")
    for name in ("app-one", "app-two", "app-three"):
        alice.push_image(f"alice/{name}", "v1")
    alice.push_image("alice/other", "v1")
    anon = client(hub)
    for _ in range(3):
        assert anon.call("GET", "/v2/alice/app-two/manifests/v1").status == 200
    r = ht.request("GET", hub.url + "/v1/search?q=app&n=2&page=2")
    body = r.json()
    assert body["query"] == "app" and body["num_results"] == 3
    assert body["page"] == 2 and body["num_pages"] == 2 and body["page_size"] == 2
    assert len(body["results"]) == 1
    assert set(body["results"][0]) >= {
        "name",
        "description",
        "star_count",
        "is_official",
        "is_automated",
    }
    assert ht.request("GET", hub.url + "/v1/search?q=app&n=x").status == 400
    assert ht.request("GET", hub.url + "/v1/_ping").json() == {"standalone": True}
    # pull counts are written in batches every few seconds
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        results = ht.request("GET", hub.url + "/v1/search?q=app-two").json()["results"]
        if results and results[0]["pull_count"] >= 3:
            break
        time.sleep(0.5)
    assert results[0]["name"] == "alice/app-two" and results[0]["pull_count"] == 3
