"""The calls, tasks and notes around the demo's deals: inbound calls through the campaigns' numbers,
answered or missed, call-backs (some late, some never), outbound calls before stage moves, and the
tasks sellers keep. Pure planning: rows for ``activities`` as dicts, in time order.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping

from crmlite.domain.product_text import ProductText, fill_caller
from cti.demo.deals import ContactRef, DealPlan
from cti.demo.vocabulary import DemoWords

MAIN_DID = "+74951234567"
ACTIVITY_COLUMNS = (
    "kind", "contact_id", "deal_id", "author_id", "created_at", "body", "direction",
    "from_number", "to_number", "started_at", "answered_at", "ended_at", "duration_s", "outcome",
    "agent_id", "recording_url", "linkedid", "title", "due_at", "assignee_id", "done_at", "extra",
    "campaign_id",
)  # fmt: skip
Row = dict[str, object]


def activity(**values: object) -> Row:
    """An ``activities`` row with every column present (one executemany needs one shape)."""
    row: Row = dict.fromkeys(ACTIVITY_COLUMNS)
    row.update(values)
    return row


class CallPlanner:
    """Calls and tasks for deals and contacts; ``rows`` collects them."""

    def __init__(
        self,
        rng: random.Random,
        now: dt.datetime,
        dids: Mapping[int, str],
        extensions: Mapping[int, str],
        words: DemoWords,
        text: ProductText,
    ) -> None:
        self.rng = rng
        self.now = now
        self.dids = dids  # campaign id -> the DID its ads show
        self.extensions = extensions  # seller id -> extension, the caller id of outbound calls
        self.words = words
        self.text = text
        self.rows: list[Row] = []
        self.calls = 0

    def call(
        self,
        contact: ContactRef,
        deal_id: int | None,
        agent_id: int | None,
        *,
        inbound: bool,
        at: dt.datetime,
        outcome: str,
    ) -> Row:
        """One call; ``outcome`` answered, missed, busy or no-answer."""
        self.calls += 1
        ring = dt.timedelta(seconds=self.rng.randrange(4, 25))
        answered = at + ring if outcome == "answered" else None
        talk = self.rng.randrange(25, 900) if answered else 0
        ended = (answered or at + ring) + dt.timedelta(seconds=talk)
        ours = self.dids.get(contact.campaign_id or 0, MAIN_DID) if inbound else None
        extension = self.extensions.get(agent_id or 0)
        row = activity(
            kind="call",
            contact_id=contact.id,
            deal_id=deal_id,
            author_id=agent_id,
            created_at=at,
            direction="inbound" if inbound else "outbound",
            from_number=contact.phone if inbound else extension or MAIN_DID,
            to_number=ours if inbound else contact.phone,
            started_at=at,
            answered_at=answered,
            ended_at=ended,
            duration_s=talk if answered else 0,
            outcome=outcome,
            agent_id=agent_id if (answered or not inbound) else None,
            linkedid=f"demo-{self.calls}",
            campaign_id=contact.campaign_id if inbound else None,
        )
        self.rows.append(row)
        return row

    def task(
        self, contact: ContactRef, deal_id: int | None, assignee: int | None, **values: object
    ) -> None:
        """A task of ``assignee``'s on the contact (and deal)."""
        created = values.pop("created_at")
        self.rows.append(
            activity(
                kind="task",
                contact_id=contact.id,
                deal_id=deal_id,
                author_id=assignee,
                created_at=created,
                assignee_id=assignee,
                **values,
            )
        )

    def deal_history(self, deal: DealPlan, deal_id: int) -> None:
        """The first call (or none), calls before moves, and the follow-up task of an open deal."""
        rng, contact, owner = self.rng, deal.contact, deal.owner_id
        start = deal.created_at
        if deal.source == "call":
            if owner is None or rng.random() < 0.22:
                self.missed(contact, deal_id, owner, start)
            else:
                self.call(contact, deal_id, owner, inbound=True, at=start, outcome="answered")
        for stage, at in deal.path[1:]:
            if rng.random() < 0.6 and owner is not None:
                before = at - dt.timedelta(minutes=rng.randrange(10, 240))
                outcome = rng.choices(("answered", "no-answer", "busy"), weights=(75, 18, 7))[0]
                self.call(contact, deal_id, owner, inbound=False, at=before, outcome=outcome)
            if stage.kind == "open" and rng.random() < 0.3:
                self.note(contact, deal_id, owner, at + dt.timedelta(minutes=5))
        if deal.stage.kind == "open" and owner is not None:
            self.follow_up(contact, deal_id, owner, deal.path[-1][1])

    def missed(
        self, contact: ContactRef, deal_id: int | None, owner: int | None, at: dt.datetime
    ) -> None:
        """A missed inbound call: called back soon, late, or (lately) not at all, with its task."""
        rng = self.rng
        self.call(contact, deal_id, None, inbound=True, at=at, outcome="missed")
        due = at + dt.timedelta(minutes=15)
        title = fill_caller(self.text.missed_call_task, contact.name)
        recent = self.now - at < dt.timedelta(days=10)
        if recent and rng.random() < 0.5:
            self.task(contact, deal_id, owner, title=title, due_at=due, created_at=at)
            return  # nobody called back yet: an open, overdue call-back
        back = at + dt.timedelta(minutes=rng.choice((3, 8, 12, 25, 40, 90, 240)))
        if back >= self.now or owner is None:
            self.task(contact, deal_id, owner, title=title, due_at=due, created_at=at)
            return
        self.call(contact, deal_id, owner, inbound=False, at=back, outcome="answered")
        self.task(contact, deal_id, owner, title=title, due_at=due, created_at=at, done_at=back)

    def follow_up(self, contact: ContactRef, deal_id: int, owner: int, since: dt.datetime) -> None:
        """The next step of an open deal: due soon, some already overdue, some done."""
        rng = self.rng
        due = since + dt.timedelta(days=rng.uniform(1, 10))
        created = since + dt.timedelta(minutes=30)
        if created >= self.now:
            created = self.now - dt.timedelta(minutes=5)
        title = fill_caller(self.text.call_back_task, contact.name)
        done = None
        if due < self.now and rng.random() < 0.5:
            done = min(self.now - dt.timedelta(minutes=1), due - dt.timedelta(hours=2))
            done = max(done, created)
        self.task(
            contact, deal_id, owner, title=title, due_at=due, created_at=created, done_at=done
        )

    def note(
        self, contact: ContactRef, deal_id: int | None, author: int | None, at: dt.datetime
    ) -> None:
        if at >= self.now:
            return
        self.rows.append(
            activity(
                kind="note",
                contact_id=contact.id,
                deal_id=deal_id,
                author_id=author,
                created_at=at,
                body=self.rng.choice(self.words.notes),
            )
        )

    def ordered(self) -> list[Row]:
        """Every row planned, oldest first (the ids then follow time, as in real life)."""
        return sorted(self.rows, key=lambda row: (row["created_at"], row["linkedid"] or ""))
