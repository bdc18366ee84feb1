"""The browser's imports in flight: uploaded files, running jobs, their progress and row reports.

An upload is kept in a private temporary folder under a random id (its uploader's alone) until
it is imported or a day has passed; a job runs ``crmlite.services.imports.run_import`` in a task
the app owns, keeps its progress for polling and writes the row report beside the upload. All of
this lives in the instance that received the upload (behind a load balancer, keep a browser on
one instance); what was imported and how far a run got is in the database (``import_runs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.domain.errors import DomainError, InvalidInput, NotFound
from crmlite.domain.phones import PhoneRules
from crmlite.domain.principal import Principal
from crmlite.services.import_report import RowReport, report_csv
from crmlite.services.imports import BatchApplier, ImportOptions, ImportProgress, run_import

KEEP_FOR = dt.timedelta(hours=24)
MAX_UPLOAD_BYTES = 64 * 1024 * 1024


@dataclass(slots=True)
class Upload:
    id: str
    user_id: int | None
    file_name: str
    path: Path
    size: int
    at: dt.datetime


@dataclass(slots=True)
class ImportJob:
    id: str
    user_id: int | None
    kind: str
    file_name: str
    dry_run: bool
    report: Path
    progress: ImportProgress
    status: str = "running"
    error: str | None = None
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    task: asyncio.Task[None] | None = None


class ImportWorkspace:
    """Uploads and jobs of this instance, in one temporary folder removed at shutdown."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.uploads: dict[str, Upload] = {}
        self.jobs: dict[str, ImportJob] = {}

    async def save_upload(
        self, user_id: int | None, file_name: str, chunks: AsyncIterator[bytes]
    ) -> Upload:
        """Write an uploaded file, refusing it past the size limit."""
        self._prune()
        upload_id = secrets.token_urlsafe(12)
        path = self.folder / f"{upload_id}.upload"
        size = 0
        file = await asyncio.to_thread(path.open, "wb")
        try:
            async for chunk in chunks:
                size += len(chunk)
                _check_size(size)
                await asyncio.to_thread(file.write, chunk)
        except BaseException:
            file.close()
            path.unlink(missing_ok=True)
            raise
        file.close()
        if size == 0:
            path.unlink(missing_ok=True)
            raise InvalidInput("the file is empty", fields={"file": "needs a header row"})
        upload = Upload(upload_id, user_id, file_name[:255] or "upload.csv", path, size,
                        dt.datetime.now(dt.UTC))  # fmt: skip
        self.uploads[upload_id] = upload
        return upload

    def upload(self, principal: Principal, upload_id: str) -> Upload:
        found = self.uploads.get(upload_id)
        if found is None or found.user_id != principal.user_id:
            raise NotFound("no such upload (uploads are kept for a day)",
                           details={"upload_id": upload_id})  # fmt: skip
        return found

    def job(self, principal: Principal, job_id: str) -> ImportJob:
        found = self.jobs.get(job_id)
        if found is None or not (principal.sees_everything or found.user_id == principal.user_id):
            raise NotFound("no such import", details={"import_id": job_id})
        return found

    def start(
        self,
        sessions: async_sessionmaker[AsyncSession],
        principal: Principal,
        upload: Upload,
        options: ImportOptions,
        applier: BatchApplier,
        rules: PhoneRules,
    ) -> ImportJob:
        """Run the import in a task of its own; poll ``job()`` for its progress."""
        job_id = secrets.token_urlsafe(12)
        job = ImportJob(
            id=job_id,
            user_id=principal.user_id,
            kind=options.kind.value,
            file_name=upload.file_name,
            dry_run=options.dry_run,
            report=self.folder / f"{job_id}.report.csv",
            progress=ImportProgress(run_id=None, rows_total=0, rows_done=0),
        )
        job.report.write_text(report_csv([], header=True), encoding="utf-8")
        self.jobs[job_id] = job

        async def on_batch(progress: ImportProgress, reports: Sequence[RowReport]) -> None:
            job.progress = progress
            text = report_csv(reports)
            await asyncio.to_thread(_append_text, job.report, text)

        async def work() -> None:
            try:
                data = await asyncio.to_thread(upload.path.read_bytes)
                job.progress = await run_import(
                    sessions, principal, data, options, applier, rules, on_batch=on_batch
                )
                job.status = "done"
            except DomainError as err:
                job.status, job.error = "failed", err.message
            except Exception as err:
                job.status, job.error = "failed", f"{type(err).__name__}: {err}"
                raise

        job.task = asyncio.create_task(work(), name=f"import-{job_id}")
        return job

    def _prune(self) -> None:
        limit = dt.datetime.now(dt.UTC) - KEEP_FOR
        for upload_id, upload in list(self.uploads.items()):
            if upload.at < limit:
                upload.path.unlink(missing_ok=True)
                del self.uploads[upload_id]
        for job_id, job in list(self.jobs.items()):
            if job.at < limit and job.status != "running":
                job.report.unlink(missing_ok=True)
                del self.jobs[job_id]

    async def close(self) -> None:
        """Cancel running imports (a resumed run picks them up) and drop the folder."""
        tasks = [job.task for job in self.jobs.values() if job.task and not job.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        shutil.rmtree(self.folder, ignore_errors=True)


def _check_size(size: int) -> None:
    if size > MAX_UPLOAD_BYTES:
        raise InvalidInput(
            "the file is too large",
            fields={"file": f"at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"},
        )


def _append_text(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8", newline="") as file:
        file.write(text)


IMPORT_WORKSPACE: web.AppKey[ImportWorkspace] = web.AppKey("import_workspace")


async def import_workspace_ctx(app: web.Application) -> AsyncIterator[None]:
    """Own the imports' temporary folder and running tasks for the app's lifetime."""
    workspace = ImportWorkspace(Path(tempfile.mkdtemp(prefix="cti-imports-")))
    app[IMPORT_WORKSPACE] = workspace
    try:
        yield
    finally:
        await workspace.close()
