"""Board totals kept by triggers: the SQL that rebuilds them after a bulk load bypassed triggers."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

_CENTS = {
    "sqlite": "CAST(ROUND(amount * 100) AS INTEGER)",
    "postgresql": "ROUND(amount * 100)::bigint",
}
# The slot the triggers of migration 0011 keep a deal's totals in.
_SLOT = {"sqlite": "0", "postgresql": "(id % 16)"}


async def rebuild_board_totals(conn: AsyncConnection) -> None:
    """Recount ``board_totals`` from ``deals`` (the triggers keep it right from then on)."""
    cents = _CENTS.get(conn.dialect.name, _CENTS["postgresql"])
    slot = _SLOT.get(conn.dialect.name, _SLOT["postgresql"])
    await conn.exec_driver_sql("DELETE FROM board_totals")
    columns = "stage_id, owner_key, currency, slot, pipeline_id, deals, cents"
    groups = "stage_id, COALESCE(owner_id, 0), currency"
    picked = f"{groups}, {slot}"
    if slot != "0":  # a constant slot is nothing to group by (and SQLite reads 0 as a position)
        groups = picked
    sql = (
        f"INSERT INTO board_totals ({columns}) "  # noqa: S608 - constant text, no input
        f"SELECT {picked}, MIN(pipeline_id), COUNT(*), SUM({cents}) FROM deals GROUP BY {groups}"
    )
    await conn.exec_driver_sql(sql)
