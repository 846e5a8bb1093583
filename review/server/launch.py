"""Entry point of the local Argilla server processes; runs with the argilla-server venv's python.

    python review/server/launch.py serve --port 6900 --username owner --password 12345678
    python review/server/launch.py setup --username owner --password 12345678
    python review/server/launch.py worker --num-workers 1   # any argilla_server CLI command

It imports the SQLite search engine first (so ``ARGILLA_SEARCH_ENGINE=stepforge-sqlite`` resolves),
then runs the Argilla CLI. ``setup`` migrates the database and creates (or refreshes) an owner
user with a known API key; ``serve`` does that and starts the server in the same process, which
saves two interpreter start-ups (about 5 s each on a small machine) per launch. The API key is
read from $ARGILLA_OWNER_API_KEY so it never shows in the process list.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlite_engine  # noqa: E402,F401  (registers the engine)


def migrate() -> None:
    """Upgrade the database to the server's head revision (a no-op when already there)."""
    import alembic.config
    from argilla_server.database import ALEMBIC_CONFIG_FILE

    alembic.config.main(argv=["-q", "-c", ALEMBIC_CONFIG_FILE, "upgrade", "head"])


async def ensure_owner(username: str, password: str, api_key: str, workspace: str) -> str:
    """Create the owner user, or reset its password and API key; returns what was done."""
    from argilla_server.cli.database.users.utils import get_or_new_workspace
    from argilla_server.contexts import accounts
    from argilla_server.database import AsyncSessionLocal
    from argilla_server.models import User, UserRole

    async with AsyncSessionLocal() as session:
        ws = await get_or_new_workspace(session, workspace)
        user = await accounts.get_user_by_username(session, username)
        if user is None:
            await User.create(session, first_name=username, username=username, role=UserRole.owner,
                              api_key=api_key, password_hash=accounts.hash_password(password),
                              workspaces=[ws])
            return "created"
        user.api_key = api_key
        user.password_hash = accounts.hash_password(password)
        await session.commit()
        return "updated"


def setup(argv: list[str], serve: bool = False) -> None:
    parser = argparse.ArgumentParser(prog="launch.py serve" if serve else "launch.py setup")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--workspace", default="argilla")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6900)
    args = parser.parse_args(argv)
    api_key = os.environ.get("ARGILLA_OWNER_API_KEY", "")
    if len(api_key) < 8:
        raise SystemExit("set ARGILLA_OWNER_API_KEY (8 characters or more)")
    migrate()
    done = asyncio.run(ensure_owner(args.username, args.password, api_key, args.workspace))
    print(f"database migrated; owner {args.username!r} {done} in workspace {args.workspace!r}", flush=True)
    if serve:
        import uvicorn

        uvicorn.run("argilla_server:app", host=args.host, port=args.port, access_log=False)


def main() -> None:
    if sys.argv[1:2] in (["setup"], ["serve"]):
        setup(sys.argv[2:], serve=sys.argv[1] == "serve")
        return
    from argilla_server.cli import app

    sys.argv[0] = "argilla_server"
    app()


if __name__ == "__main__":
    main()
