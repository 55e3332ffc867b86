#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian/Ubuntu machine, as root:
#   scripts/setup.sh base   — what `make demo` needs (Python venv, busybox-static)
#   scripts/setup.sh test   — plus what the test suite drives (runc, podman, containerd, skopeo,
#                             docker.io, docker-registry)
set -euo pipefail
cd "$(dirname "$0")/.."
want=${1:-base}

base_pkgs=(python3 python3-venv busybox-static iproute2 libseccomp2 zstd)
test_pkgs=(runc podman containerd skopeo docker.io docker-registry uidmap conmon hyperfine chromium openssl)

missing=()
check() { for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done; }
check "${base_pkgs[@]}"
[ "$want" = test ] && check "${test_pkgs[@]}"
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "setup: run as root to install: ${missing[*]}" >&2; exit 1; fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The engines we compare against must not start by themselves and hold ports or sockets.
for svc in docker containerd docker-registry; do
  systemctl disable --now "$svc" >/dev/null 2>&1 || true
  [ -x "/etc/init.d/$svc" ] && { "/etc/init.d/$svc" stop >/dev/null 2>&1 || true; }
done

# Prefer a real interpreter over a pyenv shim: every console script pays its start-up cost.
py=""
for cand in "${PYTHON:-}" /root/.pyenv/versions/3.11.7/bin/python3.11 /usr/bin/python3.11 /usr/bin/python3; do
  if [ -n "$cand" ] && [ -x "$cand" ]; then py=$cand; break; fi
done
[ -n "$py" ] || { echo "setup: no python3 >= 3.11 found" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
# dockyard-runc and dockyard launchers (python -IS, only src/ on the path): pip's console scripts pay
# for `site` on every start. Re-installed every time, since any pip install -e
# puts pip's script back.
.venv/bin/python -m dockyard.runtime.launcher --install .venv >/dev/null
# Byte-compile now: a monitor launcher that compiles its modules from source lays their
# objects out less densely than one that loads .pyc files, and every monitor it forks
# then copies more pages (see src/dockyard/engine/monitor/launcher.py).
.venv/bin/python -m compileall -q src >/dev/null
