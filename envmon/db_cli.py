"""``envmon db``: schema management."""

from __future__ import annotations

import click

from envmon import db
from envmon.clikit import load_settings, require_database, run_async


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command()
def migrate() -> None:
    """Create or upgrade the schema (idempotent)."""
    settings = load_settings()
    url = require_database(settings)

    async def go() -> list[str]:
        async with await db.connect(url) as conn:
            return await db.migrate(conn, settings.storage)

    applied = run_async(go())
    click.echo("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))


