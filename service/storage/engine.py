"""Opening the database: engine options per backend and migrations at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from service.errors import StorageError
from service.storage.listed import register_dumpers

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 7_340_615  # pg_advisory_lock key: one migrator at a time


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs (SQLAlchemy defaults to psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def database_url_problem(url: str) -> str | None:
    """Why ``url`` is not a database newswatch can use (never quoting it: it may hold a
    password), or None. SQLite and PostgreSQL only: the migrations are written for them."""
    try:
        parsed = make_url(normalise_database_url(url))
    except (ArgumentError, ValueError):
        return "not a database URL (use e.g. sqlite:///data/newswatch.db)"
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        return (f"unsupported database {backend!r}: use sqlite:///path/file.db or "
                "postgresql+psycopg://user:password@host/database")
    try:
        parsed.get_dialect().import_dbapi()
    except (ImportError, NoSuchModuleError):
        driver = parsed.drivername.partition("+")[2]
        return f"the {backend} driver {driver!r} is not installed (use postgresql+psycopg://)"
    return None


def redact_database_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite the file's folder is created and WAL set."""
    url = normalise_database_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            _make_folder(Path(database).expanduser().resolve().parent, url)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"connect_timeout": 10}
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        event.listen(engine, "connect", _postgres_dumpers)
    return engine


def _make_folder(folder: Path, url: str) -> None:
    """The SQLite file's folder, created if missing (StorageError if it cannot be)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(f"database unreachable: {redact_database_url(url)}: cannot create "
                           f"its folder {folder}: {e.strerror or type(e).__name__}") from e


def _postgres_dumpers(dbapi_connection: Any, _record: Any) -> None:
    register_dumpers(dbapi_connection)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def check_connection(engine: Engine) -> None:
    """Raise StorageError naming the database when it cannot be reached."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as e:
        raise StorageError(
            f"database unreachable: {redact_database_url(str(engine.url))}: {_first_line(e)}"
        ) from e


def upgrade(engine: Engine) -> None:
    """Apply every Alembic migration (idempotent; serialised on PostgreSQL)."""
    check_connection(engine)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"))
            config = AlembicConfig()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, "heads")  # parallel branches merge later
    except SQLAlchemyError as e:
        raise StorageError(f"database migration failed: {_first_line(e)}") from e


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
