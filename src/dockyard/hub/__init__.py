"""dockyard-hub: an OCI distribution registry with accounts, token auth, search and a web UI.

Where things are:

- pure logic: `names` (repository/tag/account grammar, `busybox` -> `library/busybox`),
  `scopes` (token-spec scopes and challenges), `jwt` (HS256 only), `access` (who may do
  what), `uploads` (the upload state machine), `manifests` (validation), `ratelimit`,
  `gc.live_manifests` (the mark phase), `routes` (which `/v2/` endpoint a path is).
- storage: `db` (SQLite schema), `blobs` (content-addressed files and upload files),
  `registry` (links, manifests, tags, referrers), `accounts` (users, orgs, teams, tokens,
  sessions), `search`, `gc` (online collection).
- HTTP: `api_v2` (distribution API), `api_token` (`/token`), `api_search` (`/v1/search`),
  `web/` (server-rendered pages), `app` (assembly and background chores), `cli`.
"""
