"""Imports API: upload a table, preview it with a proposed mapping, run it, poll it, get its report.

The browser's flow is upload -> mapping -> preview -> run -> result; scripts can do the same with
four requests (or use ``cti import`` on the server).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from typing import Literal
from urllib.parse import unquote

from aiohttp import BodyPartReader, web
from pydantic import Field

from crmlite.domain.errors import InvalidInput, PermissionDenied
from crmlite.domain.import_fields import FIELDS, ImportKind, check_mapping
from crmlite.domain.principal import Principal
from crmlite.services.import_contacts import ContactImporter
from crmlite.services.import_deals import DealImporter
from crmlite.services.import_report import COUNTED, RowStatus
from crmlite.services.imports import BatchApplier, ImportOptions, Preview, preview
from crmlite.web.crm_schemas import phone_rules
from crmlite.web.errors import HttpProblem
from crmlite.web.exports import CSV_TYPE
from crmlite.web.import_jobs import IMPORT_WORKSPACE, ImportJob, Upload
from crmlite.web.keys import SESSIONS
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel, Page, PageQuery, QueryModel
from crmlite.web.security import principal

routes = ApiRoutes("imports", "Contacts and deals from CSV files: preview, run, row report")

Delimiter = Literal[",", ";", "\t", "|"]
NOT_FOUND = {404: "No such upload or import (or not yours)"}
_READ_CHUNK = 256 * 1024


class UploadQuery(QueryModel):
    kind: ImportKind = ImportKind.CONTACTS


class PreviewIn(ApiModel):
    kind: ImportKind = ImportKind.CONTACTS
    mapping: list[str | None] | None = Field(
        None, description="one field (or null: not imported) per column; default: proposed"
    )
    delimiter: Delimiter | None = None


class CellErrorOut(ApiModel):
    column: str
    reason: str


class PreviewRowOut(ApiModel):
    row: int = Field(description="the row's number in a spreadsheet (the header is row 1)")
    cells: list[str]
    errors: list[CellErrorOut]


class UploadOut(ApiModel):
    upload_id: str
    file_name: str
    size: int
    kind: ImportKind
    encoding: str = Field(examples=["utf-8-sig", "cp1251", "gb18030"])
    delimiter: str
    header: list[str]
    mapping: list[str | None] = Field(description="the field of each column, null: skipped")
    fields: list[str] = Field(description="the fields a column may map to")
    rows_total: int
    rows: list[PreviewRowOut]


class ImportIn(ApiModel):
    upload_id: str = Field(min_length=1, max_length=64)
    kind: ImportKind = ImportKind.CONTACTS
    mapping: list[str | None] | None = None
    delimiter: Delimiter | None = None
    dry_run: bool = False
    merge: bool = Field(False, description="merge likely duplicates instead of skipping them")
    owner_id: int | None = Field(None, description="heads and admins: owner of rows naming none")


class ImportOut(ApiModel):
    id: str
    kind: ImportKind
    file_name: str
    status: Literal["running", "done", "failed"]
    dry_run: bool
    run_id: int | None = Field(description="the import_runs record (none for a dry run)")
    rows_total: int
    rows_done: int
    resumed_from: int = Field(description="rows a previous run of this file had committed")
    counts: dict[str, int]
    error: str | None


class ImportPath(ApiModel):
    id: str = Field(min_length=1, max_length=64)


class ReportQuery(PageQuery):
    status: list[RowStatus] = Field(default_factory=list, description="repeat for several")


class ReportRowOut(ApiModel):
    row: int
    status: RowStatus
    id: int | None
    column: str
    reason: str


def _upload_out(upload: Upload, kind: ImportKind, found: Preview) -> UploadOut:
    return UploadOut(
        upload_id=upload.id,
        file_name=upload.file_name,
        size=upload.size,
        kind=kind,
        encoding=found.encoding,
        delimiter=found.delimiter,
        header=list(found.header),
        mapping=found.mapping,
        fields=list(FIELDS[kind]),
        rows_total=found.rows_total,
        rows=[
            PreviewRowOut(
                row=row.number,
                cells=list(row.cells),
                errors=[CellErrorOut(column=c, reason=r) for c, r in row.errors],
            )
            for row in found.rows
        ],
    )


def _job_out(job: ImportJob) -> ImportOut:
    progress = job.progress
    return ImportOut(
        id=job.id,
        kind=ImportKind(job.kind),
        file_name=job.file_name,
        status=job.status,
        dry_run=job.dry_run,
        run_id=progress.run_id,
        rows_total=progress.rows_total,
        rows_done=progress.rows_done,
        resumed_from=progress.resumed_from,
        counts={name: progress.counts.get(name, 0) for name in COUNTED},
        error=job.error,
    )


async def _chunks(request: web.Request) -> tuple[str, AsyncIterator[bytes]]:
    """The uploaded file's name and bytes: a multipart ``file`` part, or the raw body."""
    if request.content_type.startswith("multipart/"):
        try:
            reader = await request.multipart()
        except ValueError as err:  # no boundary: the form cannot be split into its parts
            raise HttpProblem(400, "malformed-form", "Malformed form", str(err)) from err
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name == "file":
                name = part.filename or "upload.csv"

                async def from_part(body: BodyPartReader = part) -> AsyncIterator[bytes]:
                    while chunk := await body.read_chunk(_READ_CHUNK):
                        yield chunk

                return name, from_part()
        raise InvalidInput("no file in the form", fields={"file": "send the file as 'file'"})

    async def from_body() -> AsyncIterator[bytes]:
        while chunk := await request.content.read(_READ_CHUNK):
            yield chunk

    # Browsers send the name percent-encoded: a header cannot carry every file name as it is.
    return unquote(request.headers.get("X-File-Name", "upload.csv")), from_body()


async def _preview(request: web.Request, upload: Upload, body: PreviewIn) -> UploadOut:
    data = await asyncio.to_thread(upload.path.read_bytes)
    if body.mapping is not None:
        found = await asyncio.to_thread(preview, data, body.kind, phone_rules(request),
                                        delimiter=body.delimiter)  # fmt: skip
        check_mapping(body.mapping, found.header, body.kind)
    found = await asyncio.to_thread(
        preview, data, body.kind, phone_rules(request), mapping=body.mapping,
        delimiter=body.delimiter,
    )  # fmt: skip
    return _upload_out(upload, body.kind, found)


@routes.post(
    "/api/v1/imports/uploads",
    query=UploadQuery,
    response=UploadOut,
    status=201,
    errors={
        400: "A multipart form that cannot be read (malformed-form)",
        422: "Empty, too large, or not a readable table",
    },
)
async def upload_import_file(request: web.Request, *, query: UploadQuery) -> UploadOut:
    """Upload a CSV (raw body with X-File-Name, or multipart 'file'); answers its preview."""
    actor = principal(request)
    name, chunks = await _chunks(request)
    workspace = request.app[IMPORT_WORKSPACE]
    upload = await workspace.save_upload(actor.user_id, name, chunks)
    return await _preview(request, upload, PreviewIn(kind=query.kind))


@routes.post(
    "/api/v1/imports/uploads/{upload_id}/preview",
    body=PreviewIn,
    response=UploadOut,
    errors=NOT_FOUND | {422: "The mapping does not fit the file"},
)
async def preview_import(request: web.Request, *, body: PreviewIn) -> UploadOut:
    """The upload read with a chosen mapping and delimiter: the first rows checked."""
    upload = request.app[IMPORT_WORKSPACE].upload(
        principal(request), request.match_info["upload_id"]
    )
    return await _preview(request, upload, body)


def _applier(actor: Principal, body: ImportIn) -> BatchApplier:
    if body.kind is ImportKind.CONTACTS:
        return ContactImporter(actor, owner_id=body.owner_id, merge=body.merge)
    return DealImporter(actor, owner_id=body.owner_id)


@routes.post(
    "/api/v1/imports",
    body=ImportIn,
    response=ImportOut,
    status=202,
    errors=NOT_FOUND | {403: "Sellers import for themselves", 422: "Bad mapping"},
)
async def start_import(request: web.Request, *, body: ImportIn) -> ImportOut:
    """Start importing an upload; poll GET /api/v1/imports/{id} for progress."""
    actor = principal(request)
    workspace = request.app[IMPORT_WORKSPACE]
    upload = workspace.upload(actor, body.upload_id)
    if body.owner_id not in (None, actor.user_id) and not actor.sees_everything:
        raise PermissionDenied("sellers import contacts and deals they own")
    options = ImportOptions(
        kind=body.kind,
        file_name=upload.file_name,
        mapping=body.mapping,
        delimiter=body.delimiter,
        dry_run=body.dry_run,
        merge=body.merge,
        owner_id=body.owner_id,
    )
    job = workspace.start(
        request.app[SESSIONS], actor, upload, options, _applier(actor, body), phone_rules(request)
    )
    return _job_out(job)


@routes.get(r"/api/v1/imports/{id}", path_model=ImportPath, response=ImportOut, errors=NOT_FOUND)
async def get_import(request: web.Request, *, path: ImportPath) -> ImportOut:
    """An import's progress and counts."""
    return _job_out(request.app[IMPORT_WORKSPACE].job(principal(request), path.id))


@routes.get(
    r"/api/v1/imports/{id}/rows",
    path_model=ImportPath,
    query=ReportQuery,
    response=Page[ReportRowOut],
    errors=NOT_FOUND,
)
async def list_import_rows(
    request: web.Request, *, path: ImportPath, query: ReportQuery
) -> Page[ReportRowOut]:
    """The row report so far, optionally only some statuses."""
    job = request.app[IMPORT_WORKSPACE].job(principal(request), path.id)
    text = await asyncio.to_thread(job.report.read_text, encoding="utf-8")
    wanted = {status.value for status in query.status}
    rows = [
        ReportRowOut(
            row=int(r["row"]),
            status=RowStatus(r["status"]),
            id=int(r["id"]) if r["id"] else None,
            column=r["column"],
            reason=r["reason"],
        )
        for r in csv.DictReader(io.StringIO(text))
        if not wanted or r["status"] in wanted
    ]
    return Page[ReportRowOut](
        items=rows[query.offset : query.offset + query.limit],
        total=len(rows),
        limit=query.limit,
        offset=query.offset,
    )


@routes.get(
    r"/api/v1/imports/{id}/report", path_model=ImportPath, errors=NOT_FOUND, files=(CSV_TYPE,)
)
async def download_import_report(request: web.Request, *, path: ImportPath) -> web.Response:
    """The row report as CSV (UTF-8 with a BOM, for Excel)."""
    job = request.app[IMPORT_WORKSPACE].job(principal(request), path.id)
    text = await asyncio.to_thread(job.report.read_text, encoding="utf-8")
    return web.Response(
        body=("\ufeff" + text).encode(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{job.id}-report.csv"'},
    )
