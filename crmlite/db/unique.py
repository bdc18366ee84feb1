"""Read which unique constraint an IntegrityError broke, so it answers 409 naming the field.

Services check uniqueness before they write and name the clash themselves; this is the net
under them: a race lost to another request, or a check that reads a value differently from the
index (SQLite's ``lower()`` folds ASCII only), still ends as ``AlreadyTaken`` with the columns of
the constraint, never as a 500. SQLite names ``table.column`` in its message; PostgreSQL names the
constraint, whose columns the models' metadata knows.
"""

from __future__ import annotations

import re

from sqlalchemy import Index, Table, UniqueConstraint
from sqlalchemy.exc import IntegrityError

from crmlite.db.models import Base
from crmlite.domain.errors import AlreadyTaken

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<columns>[\w.]+(?:, [\w.]+)*)")
_PG_UNIQUE_VIOLATION = "23505"
_PG_KEY = re.compile(r"Key \((?P<columns>[^)]*)\)=")


def unique_violation(err: IntegrityError) -> AlreadyTaken | None:
    """The AlreadyTaken an IntegrityError means, or None when it broke another kind of rule."""
    found = _sqlite_columns(err) or _postgres_columns(err)
    if found is None:
        return None
    table, columns = found
    # The table's own id is never what a client chose: name the columns it did choose.
    chosen = [column for column in columns if column != "id"] or columns
    return AlreadyTaken(
        f"{', '.join(chosen)} already taken" if chosen else "a unique value is already taken",
        fields=chosen,
        details={"fields": chosen, "entity": table},
    )


def _sqlite_columns(err: IntegrityError) -> tuple[str, list[str]] | None:
    match = _SQLITE_UNIQUE.search(str(err.orig))
    if match is None:
        return None
    qualified = [name.split(".", 1) for name in match.group("columns").split(", ")]
    return qualified[0][0], [column for _table, column in qualified]


def _postgres_columns(err: IntegrityError) -> tuple[str, list[str]] | None:
    original = err.orig
    if getattr(original, "sqlstate", None) != _PG_UNIQUE_VIOLATION:
        return None
    # asyncpg's own exception (the driver error's cause) carries the table and constraint.
    cause = original.__cause__ if original is not None else None
    table_name = getattr(cause, "table_name", None)
    constraint_name = getattr(cause, "constraint_name", None)
    table = Base.metadata.tables.get(table_name or "")
    columns = _constraint_columns(table, constraint_name) if table is not None else []
    if not columns:
        # "Key (pipeline_id, name)=(1, Sales) already exists."
        match = _PG_KEY.search(getattr(cause, "detail", None) or "")
        columns = match.group("columns").split(", ") if match else []
    return table_name or "", columns


def _constraint_columns(table: Table, name: str | None) -> list[str]:
    if name is None:
        return []

    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and constraint.name == name:
            return [column.name for column in constraint.columns]
    for index in table.indexes:
        if isinstance(index, Index) and index.unique and index.name == name:
            return [column.name for column in index.columns]
    primary = table.primary_key
    if primary.name == name or name == f"{table.name}_pkey":
        return [column.name for column in primary.columns]
    return []
