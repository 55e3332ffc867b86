"""The hub's web forms, for what only they change (a repository made private)."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class WebSession:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def _open(self, req: urllib.request.Request) -> tuple[int, str]:
        try:
            with self.opener.open(req, timeout=30) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def get(self, path: str) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode()
        return self._open(urllib.request.Request(self.base + path, data=data, method="POST"))

    @staticmethod
    def csrf(html: str) -> str:
        m = re.search(r'name="csrf" value="([^"]+)"', html)
        assert m, "no CSRF field on the page"
        return m.group(1)

    def login(self, user: str, password: str) -> None:
        _, page = self.get("/login")
        status, body = self.post(
            "/login", {"csrf": self.csrf(page), "username": user, "password": password}
        )
        assert status == 303, body[:300]

    def make_private(self, repo: str) -> None:
        _, page = self.get(f"/r/{repo}")
        status, body = self.post(
            f"/r/{repo}/settings",
            {"csrf": self.csrf(page), "description": "", "readme": "", "private": "1"},
        )
        assert status == 303, body[:300]
