"""Activities and tasks API: notes and call logs on contacts and deals; tasks with due dates."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from aiohttp import web
from pydantic import AwareDatetime, Field, RootModel

from crmlite.db.models import Activity
from crmlite.services.activities import (
    ActivityKind,
    ActivityService,
    CallDirection,
    CallLog,
    Parent,
)
from crmlite.services.common import Page as ServicePage
from crmlite.services.exports import calls_export
from crmlite.services.tasks import TaskChanges, TaskService
from crmlite.web.crm_schemas import OwnerFilter, owner_filter
from crmlite.web.exports import FILE_TYPES, ExportFormat, export_format, export_response
from crmlite.web.keys import SESSIONS
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import INT32_MAX, ApiModel, IdPath, Page, PageQuery
from crmlite.web.security import principal

activity_routes = ApiRoutes("activities", "Notes and call logs on contacts and deals")
task_routes = ApiRoutes("tasks", "Things to do by a date, for someone")

NOT_YOURS = {404: "No such activity, or not yours"}


class ActivityOut(ApiModel):
    id: int
    kind: Literal["note", "call", "task"]
    contact_id: int | None
    deal_id: int | None
    author_id: int | None
    created_at: dt.datetime
    body: str | None
    direction: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    started_at: dt.datetime | None = None
    answered_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    duration_s: int | None = None
    outcome: str | None = None
    agent_id: int | None = None
    recording_url: str | None = None
    linkedid: str | None = None
    pbx: str | None = Field(None, description="the PBX (office) a call came through")
    title: str | None = None
    due_at: dt.datetime | None = None
    assignee_id: int | None = None
    done_at: dt.datetime | None = None


class NoteIn(ApiModel):
    kind: Literal["note"]
    contact_id: int | None = None
    deal_id: int | None = None
    body: str = Field(min_length=1, max_length=10_000)


class CallIn(ApiModel):
    kind: Literal["call"]
    contact_id: int | None = None
    deal_id: int | None = None
    direction: CallDirection
    from_number: str | None = Field(None, max_length=64)
    to_number: str | None = Field(None, max_length=64)
    started_at: AwareDatetime | None = None
    answered_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    duration_s: int | None = Field(None, ge=0, le=INT32_MAX)
    outcome: str | None = Field(None, max_length=16, examples=["answered", "missed", "busy"])
    agent_id: int | None = None
    recording_url: str | None = Field(None, max_length=500)
    linkedid: str | None = Field(None, max_length=64)
    body: str | None = Field(None, max_length=10_000)


class ActivityIn(RootModel[Annotated[NoteIn | CallIn, Field(discriminator="kind")]]):
    """A note or a call log, told apart by ``kind``."""


class ActivityQuery(PageQuery):
    contact_id: int | None = None
    deal_id: int | None = None
    kind: ActivityKind | None = None
    pbx: str | None = Field(
        None, min_length=1, max_length=64, description="only calls through this PBX (office)"
    )
    format: ExportFormat | None = Field(
        None, description="csv or xlsx: every matching row as a file (or ask by Accept)"
    )


class TaskIn(ApiModel):
    title: str = Field(min_length=1, max_length=200)
    body: str | None = Field(None, max_length=10_000)
    due_at: AwareDatetime | None = None
    assignee_id: int | None = Field(None, description="heads and admins only; default: yourself")
    contact_id: int | None = None
    deal_id: int | None = None


class TaskUpdate(ApiModel):
    title: str | None = Field(None, min_length=1, max_length=200)
    body: str | None = Field(None, max_length=10_000)
    due_at: AwareDatetime | None = None
    assignee_id: int | None = None
    done: bool | None = None


class TaskQuery(PageQuery):
    assignee: OwnerFilter = None
    open: bool = Field(False, description="only tasks not done")
    due_before: AwareDatetime | None = None
    contact_id: int | None = None
    deal_id: int | None = None


def activity_out(activity: Activity) -> ActivityOut:
    return ActivityOut.model_validate(activity)


def _page(page: ServicePage[Activity]) -> Page[ActivityOut]:
    return Page[ActivityOut](
        items=[activity_out(a) for a in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@activity_routes.get(
    "/api/v1/activities", query=ActivityQuery, response=Page[ActivityOut], files=FILE_TYPES
)
async def list_activities(
    request: web.Request, *, query: ActivityQuery
) -> Page[ActivityOut] | web.StreamResponse:
    """Activities you see (of your contacts and deals), newest first; the call log as a file
    with ``kind=call&format=csv``."""
    file_format = export_format(request, query.format)
    async with request.app[SESSIONS]() as session:
        if file_format is not None:
            export = calls_export(
                session, principal(request), contact_id=query.contact_id, deal_id=query.deal_id,
                kind=query.kind, pbx=query.pbx, text_times=file_format == "csv",
            )  # fmt: skip
            return await export_response(request, session, export, file_format)
        page = await ActivityService(session, principal(request)).find(
            contact_id=query.contact_id,
            deal_id=query.deal_id,
            kind=query.kind,
            pbx=query.pbx,
            limit=query.limit,
            offset=query.offset,
        )
    return _page(page)


@activity_routes.post(
    "/api/v1/activities",
    body=ActivityIn,
    response=ActivityOut,
    status=201,
    errors={404: "No such contact or deal, or not yours"},
)
async def create_activity(request: web.Request, *, body: ActivityIn) -> ActivityOut:
    """Add a note or a call log to a contact and/or a deal."""
    return await _create_activity(request, body.root)


async def _create_activity(request: web.Request, body: NoteIn | CallIn) -> ActivityOut:
    parent = Parent(contact_id=body.contact_id, deal_id=body.deal_id)
    async with request.app[SESSIONS].begin() as session:
        service = ActivityService(session, principal(request))
        if isinstance(body, NoteIn):
            activity = await service.add_note(parent, body.body)
        else:
            activity = await service.log_call(
                parent,
                CallLog(
                    direction=body.direction,
                    from_number=body.from_number,
                    to_number=body.to_number,
                    started_at=body.started_at,
                    answered_at=body.answered_at,
                    ended_at=body.ended_at,
                    duration_s=body.duration_s,
                    outcome=body.outcome,
                    agent_id=body.agent_id,
                    recording_url=body.recording_url,
                    linkedid=body.linkedid,
                    body=body.body,
                ),
            )
    return activity_out(activity)


@activity_routes.get(
    r"/api/v1/activities/{id:\d+}", path_model=IdPath, response=ActivityOut, errors=NOT_YOURS
)
async def get_activity(request: web.Request, *, path: IdPath) -> ActivityOut:
    """One activity."""
    async with request.app[SESSIONS]() as session:
        return activity_out(await ActivityService(session, principal(request)).get(path.id))


@activity_routes.delete(
    r"/api/v1/activities/{id:\d+}", path_model=IdPath, status=204, errors=NOT_YOURS
)
async def delete_activity(request: web.Request, *, path: IdPath) -> None:
    """Remove a note or call log (its author, heads and admins)."""
    async with request.app[SESSIONS].begin() as session:
        await ActivityService(session, principal(request)).delete(path.id)


@task_routes.get("/api/v1/tasks", query=TaskQuery, response=Page[ActivityOut])
async def list_tasks(request: web.Request, *, query: TaskQuery) -> Page[ActivityOut]:
    """Tasks you see: open ones by due date first."""
    actor = principal(request)
    assignee_id, _ = owner_filter(actor, query.assignee)
    async with request.app[SESSIONS]() as session:
        page = await TaskService(session, actor).find(
            assignee_id=assignee_id,
            open_only=query.open,
            due_before=query.due_before,
            contact_id=query.contact_id,
            deal_id=query.deal_id,
            limit=query.limit,
            offset=query.offset,
        )
    return _page(page)


@task_routes.post("/api/v1/tasks", body=TaskIn, response=ActivityOut, status=201)
async def create_task(request: web.Request, *, body: TaskIn) -> ActivityOut:
    """Create a task, optionally about a contact or a deal."""
    parent = (
        Parent(contact_id=body.contact_id, deal_id=body.deal_id)
        if body.contact_id is not None or body.deal_id is not None
        else None
    )
    async with request.app[SESSIONS].begin() as session:
        task = await TaskService(session, principal(request)).create(
            body.title,
            parent=parent,
            due_at=body.due_at,
            assignee_id=body.assignee_id,
            body=body.body,
        )
    return activity_out(task)


@task_routes.get(
    r"/api/v1/tasks/{id:\d+}", path_model=IdPath, response=ActivityOut, errors=NOT_YOURS
)
async def get_task(request: web.Request, *, path: IdPath) -> ActivityOut:
    """One task."""
    async with request.app[SESSIONS]() as session:
        return activity_out(await TaskService(session, principal(request)).get(path.id))


@task_routes.patch(
    r"/api/v1/tasks/{id:\d+}",
    path_model=IdPath,
    body=TaskUpdate,
    response=ActivityOut,
    errors=NOT_YOURS,
)
async def update_task(request: web.Request, *, path: IdPath, body: TaskUpdate) -> ActivityOut:
    """Edit a task; ``done: true`` marks it done, ``false`` reopens it."""
    changes = TaskChanges(
        title=body.title,
        body=body.body,
        due_at=body.due_at,
        assignee_id=body.assignee_id,
        done=body.done,
    )
    async with request.app[SESSIONS].begin() as session:
        return activity_out(await TaskService(session, principal(request)).update(path.id, changes))


@task_routes.delete(r"/api/v1/tasks/{id:\d+}", path_model=IdPath, status=204, errors=NOT_YOURS)
async def delete_task(request: web.Request, *, path: IdPath) -> None:
    """Delete a task (its author or assignee, heads and admins)."""
    async with request.app[SESSIONS].begin() as session:
        await TaskService(session, principal(request)).delete(path.id)
