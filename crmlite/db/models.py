"""The CRM tables as typed SQLAlchemy 2 models; migrations/ mirror them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


MONEY = Numeric(14, 2)
PK = BigInteger().with_variant(Integer(), "sqlite")


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('seller', 'head', 'admin')", name="role"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    locale: Mapped[str] = mapped_column(String(16), default="en")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    identities: Mapped[list[TelephonyIdentity]] = relationship(
        back_populates="user", lazy="raise", cascade="all, delete-orphan"
    )


class TelephonyIdentity(Base):
    """How a PBX names a user: an extension (101), an interface (PJSIP/101), a queue member.

    ``pbx`` names the configured PBX the identity belongs to; NULL means every PBX (the only kind
    before migration 0015). Two offices may both have a 101: unique per (pbx, kind, value). SQL
    treats NULLs as distinct in a unique constraint, so two partial indexes hold the two cases;
    that an every-PBX identity also clashes with a one-PBX one is the users service's check.
    """

    __tablename__ = "telephony_identities"
    __table_args__ = (
        CheckConstraint("kind IN ('extension', 'interface', 'queue_member')", name="kind"),
        Index(
            "uq_telephony_identities_every_pbx",
            "kind",
            "value",
            unique=True,
            sqlite_where=text("pbx IS NULL"),
            postgresql_where=text("pbx IS NULL"),
        ),
        Index(
            "uq_telephony_identities_pbx_kind_value",
            "pbx",
            "kind",
            "value",
            unique=True,
            sqlite_where=text("pbx IS NOT NULL"),
            postgresql_where=text("pbx IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(128))
    pbx: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[User] = relationship(back_populates="identities", lazy="raise")


class ApiToken(Base):
    """A bearer token. Only the SHA-256 of the secret is stored.

    ``scope`` NULL acts with the user's full rights; ``route-lookup`` only asks which extension a
    caller should ring (crmlite.domain.token_scopes). ``allowed_ips`` (migration 0008), when set,
    lists the addresses and CIDR networks the token is accepted from.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    scope: Mapped[str | None] = mapped_column(String(32))
    allowed_ips: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))


class WebSession(Base):
    """A browser login. Only the SHA-256 of the cookie value is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    company: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # Campaign touches (migration 0004). No foreign key: SQLite cannot add one to an existing
    # table without rebuilding it; crmlite.services.campaigns keeps them consistent.
    first_campaign_id: Mapped[int | None] = mapped_column(PK)
    latest_campaign_id: Mapped[int | None] = mapped_column(PK)
    # The public pool (migration 0007): since when the current owner holds the contact (the idle
    # clock starts there), and since when nobody does (NULL while someone owns it).
    owned_since: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Indexed with the id (ix_contacts_pool_order, migration 0010): the pool lists by both.
    pooled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    phones: Mapped[list[ContactPhone]] = relationship(
        back_populates="contact",
        lazy="raise",
        cascade="all, delete-orphan",
        order_by="ContactPhone.id",
    )


class ContactPhone(Base):
    """A phone as typed (``raw``) and normalized (E.164, or the bare extension for internal ones).

    ``normalized`` is unique: one number, one contact (the duplicate check).
    """

    __tablename__ = "contact_phones"
    __table_args__ = (CheckConstraint("kind IN ('e164', 'extension', 'other')", name="kind"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    raw: Mapped[str] = mapped_column(String(64))
    normalized: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(32))

    contact: Mapped[Contact] = relationship(back_populates="phones", lazy="raise")


class ContactEmail(Base):
    """Every email of a contact (migration 0007); ``contacts.email`` is the one shown first.

    ``normalized`` is the address lower-cased: the duplicate check matches on it. Unlike phones an
    email may be shared (a company's info@), so it is indexed, not unique.
    """

    __tablename__ = "contact_emails"
    __table_args__ = (UniqueConstraint("contact_id", "normalized"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(254))
    normalized: Mapped[str] = mapped_column(String(254), index=True)


class ContactPoolEvent(Base):
    """A contact leaving or entering someone's hands through the pool: who, when, why."""

    __tablename__ = "contact_pool_events"
    __table_args__ = (
        CheckConstraint("kind IN ('returned', 'released', 'claimed', 'assigned')", name="kind"),
        Index("ix_contact_pool_events_contact_at", "contact_id", "at"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # returned: the idle rule took it back; released: its owner gave it up; claimed: a seller
    # took it from the pool; assigned: a head gave it to a seller.
    kind: Mapped[str] = mapped_column(String(16))
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ContactMerge(Base):
    """A contact merged into another: the survivor, who merged, and the merged one as it was.

    The merged contact's row is deleted; this record answers for its id afterwards (a redirect to
    the survivor). No foreign keys to contacts: the survivor may itself be merged later, and the
    chain is followed through this table.
    """

    __tablename__ = "contact_merges"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    merged_id: Mapped[int] = mapped_column(PK, unique=True)
    survivor_id: Mapped[int] = mapped_column(PK, index=True)
    # The merged contact's fields, phones and emails, and what moved (deal, activity ids...).
    snapshot: Mapped[dict[str, object]] = mapped_column(JSON)
    # Per conflicting field, which side won: {"name": "from", "company": "into", ...}.
    keep: Mapped[dict[str, object]] = mapped_column(JSON)
    merged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    merged_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ImportRun(Base):
    """One run of a contacts or deals import: the file, how far it got, what it counted."""

    __tablename__ = "import_runs"
    __table_args__ = (
        CheckConstraint("kind IN ('contacts', 'deals')", name="kind"),
        CheckConstraint("status IN ('running', 'done', 'failed')", name="status"),
        Index("ix_import_runs_file", "kind", "file_sha256"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")
    rows_total: Mapped[int | None] = mapped_column(Integer)
    # Rows whose batch is committed: a resumed run starts after them.
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, object]] = mapped_column(JSON)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class ImportedRow(Base):
    """A row an import has applied, by a key of its content: the same row twice makes one record."""

    __tablename__ = "imported_rows"
    __table_args__ = (UniqueConstraint("kind", "row_key"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    row_key: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[int | None] = mapped_column(PK)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("import_runs.id", ondelete="SET NULL"))


class Pipeline(Base):
    __tablename__ = "pipelines"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    stages: Mapped[list[Stage]] = relationship(
        back_populates="pipeline", lazy="raise", order_by="Stage.position"
    )


class Stage(Base):
    __tablename__ = "stages"
    __table_args__ = (
        UniqueConstraint("pipeline_id", "name"),
        CheckConstraint("kind IN ('open', 'won', 'lost')", name="kind"),
        CheckConstraint("probability >= 0 AND probability <= 100", name="probability"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8), default="open")
    # Percent, 0..100: the configured chance that a deal in this stage is won.
    probability: Mapped[int] = mapped_column(Integer, default=0)
    is_unsorted: Mapped[bool] = mapped_column(Boolean, default=False)
    # A removed stage that deals have passed through is archived, not deleted: its stage history
    # stays for the reports (migration 0002). Boards and pipeline listings skip archived stages.
    archived_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    pipeline: Mapped[Pipeline] = relationship(back_populates="stages", lazy="raise")


class Deal(Base):
    __tablename__ = "deals"
    __table_args__ = (
        CheckConstraint("source IN ('call', 'manual', 'import')", name="source"),
        CheckConstraint("amount >= 0", name="amount"),
        Index("ix_deals_board", "pipeline_id", "stage_id", "created_at"),
        # Covers the board's per-column count and sums (migration 0002): no table reads.
        Index("ix_deals_board_totals", "pipeline_id", "stage_id", "currency", "amount", "owner_id"),
        # A seller's board column, newest first, straight off the index (migration 0002); also
        # every lookup by owner, or owner and stage (its prefix).
        Index("ix_deals_owner_stage_created", "owner_id", "stage_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id"))
    source: Mapped[str] = mapped_column(String(8), default="manual")
    lost_reason: Mapped[str | None] = mapped_column(String(200))
    expected_close_date: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    stage_entered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Bumped on every change: optimistic concurrency for moves from two tabs.
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Campaign touches (migration 0004), kept by crmlite.services.campaigns.
    first_campaign_id: Mapped[int | None] = mapped_column(PK)
    latest_campaign_id: Mapped[int | None] = mapped_column(PK)
    # Set by stage robots (migration 0012): the deal's own chance of winning (NULL: its stage's)
    # and free labels.
    probability: Mapped[int | None] = mapped_column(Integer)
    tags: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))

    contact: Mapped[Contact | None] = relationship(lazy="raise")
    stage: Mapped[Stage] = relationship(lazy="raise")


class BoardTotal(Base):
    """Running count and amount of the deals of one stage, owner and currency (board totals).

    Kept by database triggers on ``deals`` (migrations 0002, 0011), never by code, so the board
    reads a few hundred rows instead of summing every deal of a pipeline. ``owner_key`` is the
    owner's id, 0 for deals nobody owns; ``cents`` is the exact sum of amounts in hundredths.
    ``slot`` spreads one key over 16 rows on PostgreSQL (the deal's id modulo 16), so concurrent
    call-made deals in Unsorted do not queue on one row lock; readers sum the slots.
    """

    __tablename__ = "board_totals"
    __table_args__ = (Index("ix_board_totals_pipeline", "pipeline_id", "stage_id"),)

    stage_id: Mapped[int] = mapped_column(
        ForeignKey("stages.id", ondelete="CASCADE"), primary_key=True
    )
    owner_key: Mapped[int] = mapped_column(PK, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    deals: Mapped[int] = mapped_column(Integer)
    cents: Mapped[int] = mapped_column(BigInteger)


class DealStageChange(Base):
    """Every stage change of a deal (also its first placement, with no ``from_stage``)."""

    __tablename__ = "deal_stage_changes"
    __table_args__ = (
        Index("ix_stage_changes_deal_time", "deal_id", "changed_at"),
        Index("ix_stage_changes_to_time", "to_stage_id", "changed_at"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    from_stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id"))
    to_stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id"))
    changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The stay this change began: when the next change ended it and how long it lasted (NULL
    # while the deal is still there). Kept by a database trigger (migration 0004), never by code.
    left_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    stay_s: Mapped[int | None] = mapped_column(BigInteger)
    # True on the deal's first entry into this stage (the funnel counts those), same trigger.
    first_visit: Mapped[bool | None] = mapped_column(Boolean)


class Activity(Base):
    """A note, a call or a task on a contact and/or a deal."""

    __tablename__ = "activities"
    __table_args__ = (
        CheckConstraint("kind IN ('note', 'call', 'task')", name="kind"),
        Index("ix_activities_contact_time", "contact_id", "created_at"),
        Index("ix_activities_deal_time", "deal_id", "created_at"),
        Index("ix_activities_assignee_open", "assignee_id", "done_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    body: Mapped[str | None] = mapped_column(Text)
    # Calls
    direction: Mapped[str | None] = mapped_column(String(10))
    from_number: Mapped[str | None] = mapped_column(String(64))
    to_number: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    duration_s: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(16))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recording_url: Mapped[str | None] = mapped_column(String(500))
    linkedid: Mapped[str | None] = mapped_column(String(64), index=True)
    pbx: Mapped[str | None] = mapped_column(String(64))  # the PBX (office) a call went through
    # Tasks
    title: Mapped[str | None] = mapped_column(String(200))
    due_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    done_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    extra: Mapped[dict[str, object] | None] = mapped_column(JSON)
    # The campaign a call came through (migration 0004), see crmlite.services.campaigns.
    campaign_id: Mapped[int | None] = mapped_column(PK)


# --- Campaigns and call tracking (migration 0004) ---------------------------------------------


class Campaign(Base):
    """A marketing line: the DIDs, caller prefixes and web forms that bring leads, and its cost."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    channel: Mapped[str | None] = mapped_column(String(50))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class CampaignSource(Base):
    """What marks a touch as this campaign's: a DID, a caller-number prefix or a web form source."""

    __tablename__ = "campaign_sources"
    __table_args__ = (
        CheckConstraint("kind IN ('did', 'caller_prefix', 'web_form')", name="kind"),
        Index("ix_campaign_sources_lookup", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64))
    # A DID may move from one campaign to another: each source holds for [active_from, until).
    active_from: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    active_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class CampaignCost(Base):
    """What a campaign cost over a period of whole days (both ends included)."""

    __tablename__ = "campaign_costs"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("period_end >= period_start", name="period"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))


# Report indexes (migration 0004): stays by stage and length, cohorts and closings of a
# pipeline, campaign touches, calls by customer number (speed to lead, call-backs) and by time.
Index("ix_stage_changes_stays", DealStageChange.to_stage_id, DealStageChange.stay_s,
      DealStageChange.changed_at)  # fmt: skip
Index("ix_stage_changes_entered_stays", DealStageChange.to_stage_id, DealStageChange.changed_at,
      DealStageChange.stay_s)  # fmt: skip
Index("ix_stage_changes_first_visits", DealStageChange.deal_id, DealStageChange.first_visit,
      DealStageChange.to_stage_id)  # fmt: skip
Index("ix_deals_pipeline_created", Deal.pipeline_id, Deal.created_at)
Index("ix_deals_pipeline_closed", Deal.pipeline_id, Deal.closed_at, Deal.stage_id, Deal.currency,
      Deal.amount, Deal.created_at, Deal.owner_id, Deal.lost_reason)  # fmt: skip
Index("ix_activities_calls_from", Activity.from_number, Activity.kind, Activity.direction,
      Activity.started_at, Activity.answered_at)  # fmt: skip
Index("ix_activities_calls_to", Activity.to_number, Activity.kind, Activity.direction,
      Activity.started_at)  # fmt: skip
Index("ix_contacts_first_campaign", Contact.first_campaign_id, Contact.created_at)
Index("ix_contacts_pool_order", Contact.pooled_at, Contact.id)
Index("ix_contacts_latest_campaign", Contact.latest_campaign_id, Contact.created_at)
Index("ix_deals_first_campaign", Deal.first_campaign_id, Deal.created_at, Deal.stage_id,
      Deal.currency, Deal.amount)  # fmt: skip
Index("ix_deals_latest_campaign", Deal.latest_campaign_id, Deal.created_at, Deal.stage_id,
      Deal.currency, Deal.amount)  # fmt: skip
Index("ix_activities_campaign_calls", Activity.campaign_id, Activity.kind, Activity.started_at,
      Activity.direction, Activity.answered_at, Activity.from_number)  # fmt: skip
Index("ix_activities_call_reports", Activity.kind, Activity.started_at, Activity.direction,
      Activity.answered_at, Activity.agent_id, Activity.duration_s, Activity.from_number,
      Activity.contact_id)  # fmt: skip


# --- Calls into CRM data (migration 0005) ---------------------------------------------------


class CallEffect(Base):
    """One effect of one call (contact, deal, owner change, task, call log), applied once.

    The unique (linkedid, effect) pair is what makes replays, reconnects and a second instance
    harmless: the second writer hits the constraint and applies nothing.
    """

    __tablename__ = "call_effects"
    __table_args__ = (UniqueConstraint("linkedid", "effect"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64))
    effect: Mapped[str] = mapped_column(String(96))
    rule_id: Mapped[str | None] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="SET NULL"))
    activity_id: Mapped[int | None] = mapped_column(
        ForeignKey("activities.id", ondelete="SET NULL")
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # True when this call created the contact / deal (rather than finding an existing one).
    created: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class BlockedNumber(Base):
    """A caller number that never creates a deal again (spam, wrong number)."""

    __tablename__ = "blocked_numbers"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    normalized: Mapped[str] = mapped_column(String(32), unique=True)
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class InboxDecision(Base):
    """What a person decided about a deal a call put into Unsorted (kept after a decline)."""

    __tablename__ = "inbox_decisions"
    __table_args__ = (
        CheckConstraint("decision IN ('accepted', 'declined', 'merged')", name="decision"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    # No foreign key: a declined or merged deal is deleted, its decision stays.
    deal_id: Mapped[int] = mapped_column(PK, index=True)
    deal_title: Mapped[str] = mapped_column(String(200))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    into_deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="SET NULL"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class RuleSet(Base):
    """A version of the call-to-deal rules saved through the admin API; the newest is in force."""

    __tablename__ = "rule_sets"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    document: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class RoundRobinCursor(Base):
    """The member of a group who got the last round-robin assignment."""

    __tablename__ = "round_robin_cursors"

    group_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class WebhookDelivery(Base):
    """One event sent (or being sent) to one webhook endpoint, with its attempts so far."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        # One delivery of an event per endpoint: a replayed call does not notify twice.
        UniqueConstraint("endpoint", "event_id"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)
    endpoint: Mapped[str] = mapped_column(String(500))
    event_type: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(64))
    # The exact body sent, so a signature can be checked again later.
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class ConsumerLease(Base):
    """Which instance consumes a PBX's events now: a lease with a deadline and a fencing epoch.

    Only used with PostgreSQL (several instances). ``expires_at`` is set from the database's own
    clock; ``epoch`` grows by one at every takeover, and a write made for a stale epoch is refused.
    """

    __tablename__ = "consumer_leases"

    pbx: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(BigInteger)
    acquired_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ConsumerInstance(Base):
    """An instance that may consume PBXs, seen alive at ``seen_at`` (database clock).

    The PBXs' leases spread over the instances seen within a lease deadline (``cti.lease_spread``);
    ``status`` is what the instance last reported of the PBXs it consumes (the admin screen).
    """

    __tablename__ = "consumer_instances"

    holder: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    status: Mapped[dict[str, object] | None] = mapped_column(JSON)


# --- Stage robots (migration 0012) ------------------------------------------------------------


class StageRobot(Base):
    """One automation of a stage: what it does on entry, or when a deal sits there too long.

    ``params`` is checked by crmlite.domain.robots. An entry robot acts on deals that entered its
    stage at or after ``active_since`` (when it was added or last switched on).
    """

    __tablename__ = "stage_robots"
    __table_args__ = (
        CheckConstraint("trigger IN ('enter', 'stuck')", name="trigger"),
        Index("ix_stage_robots_stage", "stage_id", "position"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, object]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active_since: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class RobotEffect(Base):
    """One step of one robot for one stay of a deal in a stage, applied once.

    Keyed like the call effects: ``entry_key`` names the stay (deal, stage, entry time) and
    ``effect`` the robot and step; a second writer (a replay, a restart, another instance) hits the
    unique pair and applies nothing.
    """

    __tablename__ = "robot_effects"
    __table_args__ = (
        UniqueConstraint("entry_key", "effect"),
        CheckConstraint("outcome IN ('done', 'skipped')", name="outcome"),
        Index("ix_robot_effects_robot_deal", "robot_id", "deal_id", "entered_at"),
        Index("ix_robot_effects_deal", "deal_id", "entered_at"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    entry_key: Mapped[str] = mapped_column(String(64))
    effect: Mapped[str] = mapped_column(String(64))
    robot_id: Mapped[int | None] = mapped_column(ForeignKey("stage_robots.id", ondelete="SET NULL"))
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="CASCADE"))
    entered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    step: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16), default="done")
    detail: Mapped[str | None] = mapped_column(String(200))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id", ondelete="SET NULL"))
    # The deal was marked stalled by this step (a stuck robot with ``mark_stalled``).
    stalled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


# A stage's deals by when they entered it (migration 0012): the robots' entry sweep and the stuck
# clock's prefilter read one stage's deals without a table scan.
Index("ix_deals_stage_entered", Deal.stage_id, Deal.stage_entered_at)


# --- Lead scoring (migration 0013) ------------------------------------------------------------


class LeadScore(Base):
    """The current score of a contact or an open deal, how it was made and its top factors.

    Kept by crmlite.services.scoring; a closed deal keeps the score it had when it closed.
    """

    __tablename__ = "lead_scores"
    __table_args__ = (
        CheckConstraint("subject IN ('contact', 'deal')", name="subject"),
        CheckConstraint("score >= 0 AND score <= 100", name="score"),
        Index("ix_lead_scores_rank", "subject", "score", "subject_id"),
    )

    subject: Mapped[str] = mapped_column(String(8), primary_key=True)
    subject_id: Mapped[int] = mapped_column(PK, primary_key=True)
    score: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(8))  # rules, learned
    # [{"rule", "feature", "value", "points"}, ...], largest first.
    factors: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    computed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ScoreRuleSet(Base):
    """A version of the scoring rules saved through the admin API; the newest is in force."""

    __tablename__ = "score_rule_sets"

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    document: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ScoreModel(Base):
    """One training of the learned score: on what history, its held-out AUC, and the verdict.

    ``status``: ``in-use`` (better than the rules on the held-out deals), ``rules-better``, or
    ``too-few`` (not enough won and lost deals yet). The newest row is the one in force.
    """

    __tablename__ = "score_models"
    __table_args__ = (
        CheckConstraint("status IN ('in-use', 'rules-better', 'too-few')", name="status"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    won: Mapped[int] = mapped_column(Integer)
    lost: Mapped[int] = mapped_column(Integer)
    auc: Mapped[float | None] = mapped_column(Numeric(6, 4, asdecimal=False))
    rules_auc: Mapped[float | None] = mapped_column(Numeric(6, 4, asdecimal=False))
    model: Mapped[dict[str, object] | None] = mapped_column(JSON(none_as_null=True))
    trained_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    trained_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


# What changed since the scoring's last look (crmlite.services.scoring.changed_since).
Index("ix_deals_updated_at", Deal.updated_at)
Index("ix_contacts_updated_at", Contact.updated_at)


# The quote tables live in their own module; loading it here puts them in Base.metadata.
from crmlite.db import quote_models as quote_models  # noqa: E402
