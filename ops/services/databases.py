"""The database half of a backup, with each engine's own tool: PostgreSQL's pg_dump and
pg_restore (connection settings from Django's DATABASES, as `dbshell` builds them), and
SQLite's online backup API, which copies a live database consistently.

What a backup records of the database (rows per table, applied migrations, the files its
rows point at) is read from the same snapshot as the dump: PostgreSQL exports the snapshot
of a REPEATABLE READ transaction to pg_dump; SQLite reads the copy it just made.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from django.db import OperationalError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.client import DatabaseClient

from ops.services.manifest import BackupError
from ops.services.stored_files import StoredFile, stored_files_read

ENGINES = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}
DUMP_FILES = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}
_MAGIC = {"postgresql": b"PGDMP", "sqlite": b"SQLite format 3\x00"}


@dataclass
class DatabaseState:
    tables: dict[str, int]
    migrations: dict[str, list[str]]
    stored_files: list[StoredFile]


def engine_of(connection: BaseDatabaseWrapper) -> str:
    if connection.vendor not in ENGINES:
        raise BackupError(f"Backups support PostgreSQL and SQLite, not {connection.vendor}.")
    return connection.vendor


def dump_engine(path: Path) -> str:
    """The engine whose dump ``path`` is, by its first bytes ("" if neither)."""
    with path.open("rb") as handle:
        head = handle.read(16)
    return next((engine for engine, magic in _MAGIC.items() if head.startswith(magic)), "")


def _counts(cursor, tables: list[str]) -> dict[str, int]:
    counts = {}
    for table in sorted(tables):
        cursor.execute(f'SELECT count(*) FROM "{table}"')
        counts[table] = cursor.fetchone()[0]
    return counts


def _state_read(cursor, tables: list[str]) -> DatabaseState:
    counts = _counts(cursor, tables)
    migrations: dict[str, list[str]] = {}
    if "django_migrations" in counts:
        cursor.execute("SELECT app, name FROM django_migrations ORDER BY id")
        for app, name in cursor.fetchall():
            migrations.setdefault(app, []).append(name)
    return DatabaseState(counts, migrations, stored_files_read(cursor, set(counts)))


def table_counts(connection: BaseDatabaseWrapper) -> dict[str, int]:
    with connection.cursor() as cursor:
        return _counts(cursor, connection.introspection.table_names(cursor))


# --- PostgreSQL ---------------------------------------------------------------------------


def _pg_command(program: str, settings_dict: dict, *parameters: str) -> list[str]:
    """``program`` connecting as Django does (-U, -h, -p, then --dbname NAME last)."""
    if not settings_dict.get("NAME"):
        raise BackupError("DATABASES has no NAME: say which database to back up or restore.")
    args, _ = DatabaseClient.settings_to_cmd_args_env(
        settings_dict, ["--no-password", *parameters, "--dbname"]
    )
    return [program, *args[1:]]


def _pg_run(command: list[str], settings_dict: dict) -> None:
    # The password, sslmode, service ... travel in the environment, as for dbshell.
    _, env = DatabaseClient.settings_to_cmd_args_env(settings_dict, [])
    try:
        done = subprocess.run(
            command, env={**os.environ, **(env or {})}, capture_output=True, text=True
        )
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed (PostgreSQL's client tools).") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise BackupError(f"{command[0]} failed: {lines[-1] if lines else done.returncode}")


def _pg_dump(connection: BaseDatabaseWrapper, dump: Path) -> DatabaseState:
    if connection.in_atomic_block:
        raise BackupError("A backup must run outside a transaction.")
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        # pg_dump reads this transaction's snapshot: the counts below are of the same rows.
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        settings_dict = connection.settings_dict
        options = ("--format=custom", f"--file={dump}", f"--snapshot={snapshot}")
        _pg_run(_pg_command("pg_dump", settings_dict, *options), settings_dict)
        return _state_read(cursor, connection.introspection.table_names(cursor))


def _pg_restore(connection: BaseDatabaseWrapper, dump: Path, *, replace: bool) -> None:
    # One transaction: a failed restore leaves the database as it was. Objects are owned by,
    # and granted as, whoever restores (the site's own role).
    options = ["--no-owner", "--no-acl", "--exit-on-error", "--single-transaction"]
    if replace:
        options += ["--clean", "--if-exists"]
    connection.close()
    settings_dict = connection.settings_dict
    _pg_run([*_pg_command("pg_restore", settings_dict, *options), str(dump)], settings_dict)


def _pg_clear(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        if tables:
            names = ", ".join(connection.ops.quote_name(table) for table in tables)
            cursor.execute(f"DROP TABLE IF EXISTS {names} CASCADE")
        cursor.execute(
            "SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n "
            "ON n.oid = p.pronamespace WHERE n.nspname = current_schema()"
        )
        for (function,) in cursor.fetchall():
            cursor.execute(f"DROP FUNCTION IF EXISTS {function} CASCADE")


# --- SQLite -------------------------------------------------------------------------------


def _sqlite_dump(connection: BaseDatabaseWrapper, dump: Path) -> DatabaseState:
    connection.ensure_connection()
    with closing(sqlite3.connect(dump)) as copy:
        connection.connection.backup(copy)
        cursor = copy.cursor()
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        return _state_read(cursor, [name for (name,) in cursor.fetchall()])


def _sqlite_restore(connection: BaseDatabaseWrapper, dump: Path, *, replace: bool) -> None:
    # The backup API writes the copy in one transaction of the target: whole, or not at all.
    connection.close()
    target = Path(connection.settings_dict["NAME"])
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        closing(sqlite3.connect(f"file:{dump}?mode=ro", uri=True)) as source,
        closing(sqlite3.connect(target)) as copy,
    ):
        source.backup(copy)


def _sqlite_clear(connection: BaseDatabaseWrapper) -> None:
    connection.close()
    name = connection.settings_dict["NAME"]
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{name}{suffix}").unlink(missing_ok=True)


# --- either -------------------------------------------------------------------------------


def database_dump(connection: BaseDatabaseWrapper, dump: Path) -> DatabaseState:
    """Write the database to ``dump``; its state as of the dumped snapshot."""
    engine = engine_of(connection)
    return (_pg_dump if engine == "postgresql" else _sqlite_dump)(connection, dump)


def database_restore(connection: BaseDatabaseWrapper, dump: Path, *, replace: bool) -> None:
    engine = engine_of(connection)
    restore = _pg_restore if engine == "postgresql" else _sqlite_restore
    restore(connection, dump, replace=replace)


def database_clear(connection: BaseDatabaseWrapper) -> None:
    """Drop everything (what a failed restore left): the database is empty again."""
    (_pg_clear if engine_of(connection) == "postgresql" else _sqlite_clear)(connection)


def database_tables(connection: BaseDatabaseWrapper) -> list[str]:
    """The tables there now; BackupError in one line when the database cannot be reached."""
    try:
        with connection.cursor() as cursor:
            return connection.introspection.table_names(cursor)
    except OperationalError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        name = connection.settings_dict.get("NAME")
        raise BackupError(f"Cannot open the database {name}: {first}") from None
