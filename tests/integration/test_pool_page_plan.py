"""The pool's first page is read off ix_contacts_pool_order in order: no sort of the whole pool."""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from crmlite.services.pool import pool_page, pool_query


async def test_the_pool_page_reads_the_index_in_order(engine: AsyncEngine) -> None:
    def plan(connection: Connection) -> str:
        dialect = connection.dialect
        sql = str(
            pool_page(pool_query(), 50, 0).compile(
                dialect=dialect, compile_kwargs={"literal_binds": True}
            )
        )
        if dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
            return "\n".join(str(row[-1]) for row in rows)
        # An empty table makes a scan and a sort the cheapest plan; forbid both to see that the
        # index gives the order (one return pass stamps thousands of contacts with one time).
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        connection.execute(text("SET LOCAL enable_sort = off"))
        return "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {sql}").all())

    async with engine.begin() as connection:
        found = await connection.run_sync(plan)
    if engine.dialect.name == "sqlite":
        assert "USING INDEX ix_contacts_pool_order" in found, found
        assert "TEMP B-TREE" not in found, found
    else:
        assert "Index Scan Backward using ix_contacts_pool_order" in found, found
        assert "Sort" not in found, found
    assert "Seq Scan" not in found, found
