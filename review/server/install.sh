#!/usr/bin/env bash
# Installs what the local Argilla server needs, each only when missing (safe to re-run; CI runs it
# on a clean machine):
#   - argilla-server 2.8.0 in its own venv ($ARGILLA_VENV, default .argilla/venv)
#   - redis-server (Debian package)
#   - with --browser: Debian chromium, and playwright (PyPI) in the project venv ($VENV, default
#     .venv) for the browser test. Playwright's own browser download is not used.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
ARGILLA_VENV="${ARGILLA_VENV:-$REPO/.argilla/venv}"
PROJECT_VENV="${VENV:-$REPO/.venv}"
BROWSER=0
[[ "${1:-}" == "--browser" ]] && BROWSER=1

apt_install() {
  local sudo=""
  [[ "$(id -u)" != "0" ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

if ! "$ARGILLA_VENV/bin/python" -c "import argilla_server" 2>/dev/null; then
  echo "installing argilla-server into $ARGILLA_VENV" >&2
  python3 -m venv "$ARGILLA_VENV"
  "$ARGILLA_VENV/bin/pip" install -q --upgrade pip
  "$ARGILLA_VENV/bin/pip" install -q -r "$HERE/requirements.txt"
fi

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
if [[ $BROWSER == 1 ]]; then
  command -v chromium >/dev/null || missing+=(chromium)
fi
if (( ${#missing[@]} )); then
  echo "installing ${missing[*]} (apt)" >&2
  apt_install "${missing[@]}"
fi

if [[ $BROWSER == 1 ]] && ! "$PROJECT_VENV/bin/python" -c "import playwright" 2>/dev/null; then
  "$PROJECT_VENV/bin/python" -m pip install -q "playwright>=1.40"
fi
echo "local Argilla server dependencies ready ($ARGILLA_VENV)" >&2
