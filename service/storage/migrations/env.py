"""Alembic environment: runs on the connection newswatch hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from service.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # `alembic` command line, e.g. for autogenerate during development
    url = config.get_main_option("sqlalchemy.url")
    assert url, "set sqlalchemy.url to run Alembic from the command line"
    with create_engine(url).begin() as own_connection:
        _run(own_connection)
