#!/usr/bin/env bash
# Local Argilla for development and tests (argilla-server 2.8.0 in .argilla/venv, SQLite, Redis,
# the stepforge SQLite search engine). Installs what is missing, then runs in the foreground and
# prints ARGILLA_API_URL / ARGILLA_API_KEY (owner / 12345678, key argilla.apikey).
#   scripts/argilla-serve.sh                 # serve on :6900
#   scripts/argilla-serve.sh --port 6901 --fresh
#   scripts/argilla-serve.sh install [--browser]   # install only (CI): server venv, redis[, chromium+playwright]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
if [[ "${1:-}" == "install" ]]; then
  shift
  exec bash review/server/install.sh "$@"
fi
bash review/server/install.sh
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
exec "${VENV:-$REPO/.venv}/bin/python" -m pipelines.cli review serve "$@"
