"""Tasks: something to do by a date, for someone, about a contact or a deal."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Activity
from crmlite.domain.access import may_assign_to_others
from crmlite.domain.clock import Clock
from crmlite.domain.errors import InvalidInput, NotFound, PermissionDenied
from crmlite.domain.principal import Principal
from crmlite.services.activities import ActivityKind, ActivityService, Parent
from crmlite.services.common import Page, check_page, require_active_user, utc_now

TASK = ActivityKind.TASK.value


@dataclass(frozen=True, slots=True)
class TaskChanges:
    title: str | None = None
    body: str | None = None
    due_at: dt.datetime | None = None
    assignee_id: int | None = None
    done: bool | None = None


class TaskService:
    """Task use cases for one principal inside one unit of work (the caller commits)."""

    def __init__(self, session: AsyncSession, principal: Principal, *, clock: Clock = utc_now):
        self.session = session
        self.principal = principal
        self.clock = clock
        self.activities = ActivityService(session, principal, clock=clock)

    async def create(
        self,
        title: str,
        *,
        parent: Parent | None = None,
        due_at: dt.datetime | None = None,
        assignee_id: int | None = None,
        body: str | None = None,
    ) -> Activity:
        """Create a task; sellers assign to themselves, heads and admins to anyone."""
        clean = _clean_title(title)
        where = await self.activities.resolve_parent(parent) if parent else Parent()
        assignee = await self._assignee(assignee_id)
        task = Activity(
            kind=TASK,
            title=clean,
            body=(body or "").strip() or None,
            due_at=due_at,
            assignee_id=assignee,
            contact_id=where.contact_id,
            deal_id=where.deal_id,
            author_id=self.principal.user_id,
            created_at=self.clock(),
        )
        self.session.add(task)
        await self.session.flush()
        return task

    async def get(self, task_id: int) -> Activity:
        task = await self.activities.get(task_id)
        if task.kind != TASK:
            raise NotFound(f"no task {task_id}", details={"task_id": task_id})
        return task

    async def update(self, task_id: int, changes: TaskChanges) -> Activity:
        task = await self.get(task_id)
        if changes.title is not None:
            task.title = _clean_title(changes.title)
        if changes.body is not None:
            task.body = changes.body.strip() or None
        if changes.due_at is not None:
            task.due_at = changes.due_at
        if changes.assignee_id is not None and changes.assignee_id != task.assignee_id:
            task.assignee_id = await self._assignee(changes.assignee_id)
        if changes.done is not None:
            task.done_at = (task.done_at or self.clock()) if changes.done else None
        await self.session.flush()
        return task

    async def delete(self, task_id: int) -> None:
        task = await self.get(task_id)
        if not self.principal.may_touch(task.author_id) and not self.principal.may_touch(
            task.assignee_id
        ):
            raise PermissionDenied("only the author or the assignee removes a task")
        await self.session.delete(task)
        await self.session.flush()

    async def find(
        self,
        *,
        assignee_id: int | None = None,
        open_only: bool = False,
        due_before: dt.datetime | None = None,
        contact_id: int | None = None,
        deal_id: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[Activity]:
        """Tasks the principal sees; open ones by due date first, done ones after."""
        check_page(limit, offset)
        conditions: list[ColumnElement[bool]] = [Activity.kind == TASK]
        visible = self.activities.visible()
        if visible is not None:
            conditions.append(visible)
        if assignee_id is not None:
            conditions.append(Activity.assignee_id == assignee_id)
        if open_only:
            conditions.append(Activity.done_at.is_(None))
        if due_before is not None:
            conditions.append(Activity.due_at < due_before)
        if contact_id is not None:
            conditions.append(Activity.contact_id == contact_id)
        if deal_id is not None:
            conditions.append(Activity.deal_id == deal_id)
        total = await self.session.scalar(select(func.count(Activity.id)).where(*conditions))
        rows = await self.session.scalars(
            select(Activity)
            .where(*conditions)
            .order_by(
                Activity.done_at.is_not(None),
                Activity.due_at.is_(None),
                Activity.due_at,
                Activity.id,
            )
            .limit(limit)
            .offset(offset)
        )
        return Page(items=list(rows), total=total or 0, limit=limit, offset=offset)

    async def _assignee(self, requested: int | None) -> int | None:
        if requested is None or requested == self.principal.user_id:
            return self.principal.user_id
        if not may_assign_to_others(self.principal):
            raise PermissionDenied("sellers assign tasks to themselves only")
        await require_active_user(self.session, requested, field="assignee_id")
        return requested


def _clean_title(title: str) -> str:
    clean = title.strip()
    if not clean or len(clean) > 200:
        raise InvalidInput("invalid title", fields={"title": "1 to 200 characters"})
    return clean
