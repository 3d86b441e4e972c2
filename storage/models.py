"""The schema. Alembic revisions in ``migrations/versions`` must match it (a test runs the check).

Our own keys are 64-bit integers; platform ids are strings, never numbers; every time is UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Announcement",
    "AuditEntry",
    "Badge",
    "Base",
    "CheckIn",
    "Community",
    "CommunityRule",
    "Event",
    "EventReminder",
    "EventRsvp",
    "Filter",
    "GateChallenge",
    "InviteCode",
    "LedgerEntry",
    "Member",
    "MemberRole",
    "Person",
    "PointAccount",
    "Poll",
    "PollOption",
    "PollVote",
    "ProcessedUpdate",
    "RedPacket",
    "RedPacketChain",
    "RedPacketShare",
    "RuleProposal",
    "ScheduledSend",
    "Solicitation",
    "Submission",
    "UTCDateTime",
    "UndeliverableNotice",
    "WaitingAction",
    "Warn",
]

#: Column sizes; repositories clip user text to them before storage.
PLATFORM_LEN = 16
PLATFORM_ID_LEN = 64
NAME_LEN = 128
TITLE_LEN = 256
UPDATE_KEY_LEN = 128
RULE_LEN = 500
REASON_LEN = 200
EVIDENCE_LEN = 300
PATTERN_LEN = 200
POLL_QUESTION_LEN = 300
POLL_OPTION_LEN = 100
ANNOUNCEMENT_LEN = 1500

Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite only autoincrements INTEGER keys


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every dialect (SQLite forgets the zone; we restore it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use ctx.clock (UTC, aware)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Community(Base):
    """A group chat on one platform (or a private chat with the bot). Persona fields override config."""

    __tablename__ = "communities"
    __table_args__ = (UniqueConstraint("platform", "chat_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(PLATFORM_LEN))
    chat_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LEN))
    chat_type: Mapped[str] = mapped_column(String(16), default="group")
    title: Mapped[str | None] = mapped_column(String(TITLE_LEN))
    timezone: Mapped[str | None] = mapped_column(String(64))
    day_reset_hour: Mapped[int | None] = mapped_column(SmallInteger)
    persona_name: Mapped[str | None] = mapped_column(String(64))
    persona_tone: Mapped[str | None] = mapped_column(String(16))
    persona_locale: Mapped[str | None] = mapped_column(String(16))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Person(Base):
    """One human: what they told the bot about themselves in a private chat (birthday, time
    zone), which applies in every community they share with it.

    A person is made from the account that first told the bot something (``platform``,
    ``platform_user_id``); ``Member.person_id`` links that account's memberships (and may
    later link accounts on other platforms). The values are copied onto each linked
    membership, so the birthday tick keeps its indexed lookups on ``members``; a membership
    made later (a join) takes them when it is recorded.
    """

    __tablename__ = "persons"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(NAME_LEN))
    created_at: Mapped[datetime]
    platform: Mapped[str | None] = mapped_column(String(PLATFORM_LEN))
    platform_user_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    birthday_month: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_day: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_year: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_year_public: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    birthday_listed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    timezone: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime | None]
    #: When the account last sent ``/start`` privately (the bot may write to it: Telegram
    #: only writes to those who started it); cleared when the platform refuses a notice.
    reachable_at: Mapped[datetime | None]


class Member(Base):
    """A platform account in one community, with the dates the bot itself recorded."""

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("community_id", "platform_user_id"),
        Index("ix_members_community_username_key", "community_id", "username_key"),
        Index("ix_members_community_name_key", "community_id", "name_key"),
        Index("ix_members_birthday", "birthday_month", "birthday_day"),
        Index("ix_members_joined_at", "joined_at"),
        Index("ix_members_first_seen_at", "first_seen_at"),
        Index("ix_members_person_id", "person_id"),
        Index("ix_members_platform_user_id", "platform_user_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    platform_user_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LEN))
    display_name: Mapped[str] = mapped_column(String(NAME_LEN))
    username: Mapped[str | None] = mapped_column(String(NAME_LEN))
    #: Case-folded copies for lookups by name (SQLite's lower() only folds ASCII).
    name_key: Mapped[str] = mapped_column(String(NAME_LEN))
    username_key: Mapped[str | None] = mapped_column(String(NAME_LEN))
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    last_active_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    birthday_month: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_day: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_year: Mapped[int | None] = mapped_column(SmallInteger)
    birthday_year_public: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Shown in ``/birthdays`` (members may hide themselves; they are still greeted).
    birthday_listed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    timezone: Mapped[str | None] = mapped_column(String(64))
    #: Exempt from the automatic filters (``/approve``).
    approved: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class MemberRole(Base):
    """A bot-level role granted in chat (moderator, planner, analyst, expert)."""

    __tablename__ = "member_roles"
    __table_args__ = (UniqueConstraint("member_id", "role"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    granted_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    granted_at: Mapped[datetime]


class ProcessedUpdate(Base):
    """One row per platform update recorded; the unique key turns redeliveries into no-ops.

    ``handled_at`` stays empty until the update's handlers finished and its actions settled;
    until then ``event`` keeps the event (JSON) so that a restart handles it again.
    """

    __tablename__ = "processed_updates"
    __table_args__ = (
        UniqueConstraint("platform", "update_key"),
        Index("ix_processed_updates_platform_handled_at", "platform", "handled_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(PLATFORM_LEN))
    update_key: Mapped[str] = mapped_column(String(UPDATE_KEY_LEN))
    processed_at: Mapped[datetime] = mapped_column(index=True)
    handled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    event: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuditEntry(Base):
    """Who changed what, for operators to review."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_community_created", "community_id", "created_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    actor_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    target_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class CommunityRule(Base):
    """One numbered rule of a community, as operators wrote it (``/setrules``, ``/addrule``)."""

    __tablename__ = "community_rules"
    __table_args__ = (UniqueConstraint("community_id", "position"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(RULE_LEN))
    created_at: Mapped[datetime]


class Warn(Base):
    """A warning on a member's record: why, the evidence, and when it stops counting."""

    __tablename__ = "warns"
    __table_args__ = (Index("ix_warns_member_active", "member_id", "revoked_at", "expires_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    given_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(String(REASON_LEN))
    evidence: Mapped[str | None] = mapped_column(String(EVIDENCE_LEN))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Filter(Base):
    """A banned word or regular expression a community added in chat, with its action."""

    __tablename__ = "filters"
    __table_args__ = (UniqueConstraint("community_id", "kind", "pattern"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    pattern: Mapped[str] = mapped_column(String(PATTERN_LEN))
    action: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class GateChallenge(Base):
    """A newcomer's captcha (or a join request) waiting for an answer, durable so a timeout
    still removes them after a restart. One row per (community, member, kind), reused."""

    __tablename__ = "gate_challenges"
    __table_args__ = (
        UniqueConstraint("community_id", "member_id", "kind"),
        Index("ix_gate_challenges_due", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class InviteCode(Base):
    """A code operators hand out; entering it lets a member in (``invite_code`` gate)."""

    __tablename__ = "invite_codes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    #: ``None``: any number of uses.
    uses_left: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class PointAccount(Base):
    """A points account in a community: a member's (``m:<member id>``) or the bot's own, such
    as red-packet escrow (``escrow``). Balances change only with a ledger entry."""

    __tablename__ = "point_accounts"
    __table_args__ = (
        UniqueConstraint("community_id", "owner"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    owner: Mapped[str] = mapped_column(String(64))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerEntry(Base):
    """Append-only. Each entry's idempotency key is unique: a retried operation posts nothing."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_account", "account_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("point_accounts.id", ondelete="CASCADE"))
    delta: Mapped[int] = mapped_column(BigInteger)
    #: issue (points created), remove (points destroyed), transfer (between accounts)
    reason: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    created_at: Mapped[datetime]


class CheckIn(Base):
    """One check-in per member and local day (the community's zone and reset hour)."""

    __tablename__ = "checkins"
    __table_args__ = (
        UniqueConstraint("member_id", "local_date"),
        Index("ix_checkins_community_date", "community_id", "local_date"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    streak: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class Badge(Base):
    """A badge a member earned once (``streak-7``, ``first-today``...)."""

    __tablename__ = "badges"
    __table_args__ = (UniqueConstraint("member_id", "badge"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    badge: Mapped[str] = mapped_column(String(32))
    awarded_at: Mapped[datetime]


class RedPacket(Base):
    """A red packet (红包): its shares are fixed when it is sent (``red_packet_shares``) and its
    points wait in the community's escrow account until grabbed or refunded on expiry."""

    __tablename__ = "red_packets"
    __table_args__ = (
        Index("ix_red_packets_due", "status", "expires_at"),
        Index("ix_red_packets_open", "community_id", "status"),
        CheckConstraint("grabbed >= 0 AND grabbed <= shares", name="grabs_within_shares"),
        CheckConstraint("total >= shares AND shares >= 1", name="a_point_per_share"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    #: Discord: the channel it was sent in (a guild is the community); Telegram: empty.
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    sender_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    total: Mapped[int] = mapped_column(BigInteger)
    shares: Mapped[int] = mapped_column(Integer)
    equal: Mapped[bool] = mapped_column(Boolean, default=False)
    greeting: Mapped[str | None] = mapped_column(String(REASON_LEN))
    #: The split is recomputed from ``seed``; ``seed_digest`` is shown while the packet is open.
    seed: Mapped[str] = mapped_column(String(64))
    seed_digest: Mapped[str] = mapped_column(String(16))
    #: open, done (every share taken) or expired (the rest refunded)
    status: Mapped[str] = mapped_column(String(16), default="open")
    grabbed: Mapped[int] = mapped_column(Integer, default=0)
    #: Its position in the red-packet chain (接龙), when it was sent on one.
    chain_link: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    #: The platform update that sent it: a redelivered command sends no second packet.
    send_key: Mapped[str] = mapped_column(String(UPDATE_KEY_LEN + 64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]


class RedPacketShare(Base):
    """One share; the n-th grabber takes position n. A member holds at most one per packet."""

    __tablename__ = "red_packet_shares"
    __table_args__ = (
        UniqueConstraint("packet_id", "position"),
        UniqueConstraint("packet_id", "member_id"),
        CheckConstraint("amount >= 1", name="share_at_least_one"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    packet_id: Mapped[int] = mapped_column(ForeignKey("red_packets.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    grabbed_at: Mapped[datetime | None]


class RedPacketChain(Base):
    """A community's red-packet chain (红包接龙): its length, its record, and who must send
    the next packet by when."""

    __tablename__ = "red_packet_chains"
    __table_args__ = (Index("ix_red_packet_chains_deadline", "deadline"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), unique=True
    )
    length: Mapped[int] = mapped_column(Integer, default=0)
    record: Mapped[int] = mapped_column(Integer, default=0)
    record_at: Mapped[datetime | None]
    #: The chain's newest packet; its completion names the next sender.
    packet_id: Mapped[int | None] = mapped_column(ForeignKey("red_packets.id", ondelete="SET NULL"))
    designated_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    deadline: Mapped[datetime | None]
    broken_at: Mapped[datetime | None]


class Poll(Base):
    """A poll (投票) voted on with the bot's buttons; votes are rows in ``poll_votes``. It
    closes at ``closes_at`` by a durable tick (a conditional ``open -> closed`` update)."""

    __tablename__ = "polls"
    __table_args__ = (
        Index("ix_polls_due", "status", "closes_at"),
        Index("ix_polls_open", "community_id", "status"),
        CheckConstraint("max_choices >= 1", name="at_least_one_choice"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    #: Discord: the channel it was posted in; Telegram: empty.
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    creator_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(String(POLL_QUESTION_LEN))
    #: How many options one member may choose: 1 for a single-choice poll.
    max_choices: Mapped[int] = mapped_column(SmallInteger, default=1)
    #: Voters are recorded (to allow changing a vote) but never shown.
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    #: open or closed
    status: Mapped[str] = mapped_column(String(16), default="open")
    message_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    #: The platform update that started it: a redelivered command starts no second poll.
    send_key: Mapped[str] = mapped_column(String(UPDATE_KEY_LEN + 64), unique=True)
    created_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    #: Who closed it early (``/closepoll``); empty when it closed at its deadline.
    closed_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )


class PollOption(Base):
    """One option of a poll, numbered from 1 in the order given."""

    __tablename__ = "poll_options"
    __table_args__ = (UniqueConstraint("poll_id", "position"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str] = mapped_column(String(POLL_OPTION_LEN))


class PollVote(Base):
    """A member's choice of one option: at most one row per (poll, member, option); a
    single-choice poll keeps at most one row per member (the repository replaces it)."""

    __tablename__ = "poll_votes"
    __table_args__ = (
        UniqueConstraint("poll_id", "member_id", "position"),
        Index("ix_poll_votes_tally", "poll_id", "position"),
        ForeignKeyConstraint(
            ["poll_id", "position"],
            ["poll_options.poll_id", "poll_options.position"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger)
    voted_at: Mapped[datetime]


class Event(Base):
    """A community event (社群活动) members sign up for; reminders are ``event_reminders``."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_upcoming", "community_id", "status", "starts_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    creator_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(REASON_LEN))
    place: Mapped[str | None] = mapped_column(String(REASON_LEN))
    #: Most members going; the rest wait in order (``None``: no limit).
    capacity: Mapped[int | None] = mapped_column(Integer)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    #: open or cancelled
    status: Mapped[str] = mapped_column(String(16), default="open")
    message_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    #: The platform update that created it: a redelivered command creates no second event.
    create_key: Mapped[str] = mapped_column(String(UPDATE_KEY_LEN + 64), unique=True)
    created_at: Mapped[datetime]


class EventRsvp(Base):
    """A member's answer: going, maybe, no, or waiting (going, but the event was full)."""

    __tablename__ = "event_rsvps"
    __table_args__ = (
        UniqueConstraint("event_id", "member_id"),
        Index("ix_event_rsvps_answer", "event_id", "answer", "answered_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    answer: Mapped[str] = mapped_column(String(16))
    #: When this answer was given: the waitlist's order.
    answered_at: Mapped[datetime]
    #: Checked in at the event (``/here``).
    here_at: Mapped[datetime | None]


class EventReminder(Base):
    """One scheduled reminder, unique per (event, minutes before): claimed once by the tick,
    so a restart or a second process sends it once."""

    __tablename__ = "event_reminders"
    __table_args__ = (
        UniqueConstraint("event_id", "minutes_before"),
        Index("ix_event_reminders_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    minutes_before: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime]
    #: pending, sending, sent, skipped (too late, or the event was cancelled)
    status: Mapped[str] = mapped_column(String(16), default="pending")


class RuleProposal(Base):
    """A rule members vote on (群策群力): a poll with quorum and threshold; adopted rules are
    appended to the community's rules."""

    __tablename__ = "rule_proposals"
    __table_args__ = (Index("ix_rule_proposals_status", "status"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"), unique=True)
    proposer_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(RULE_LEN))
    #: Fixed when proposed: a later change of the settings does not move the goalposts.
    quorum: Mapped[int] = mapped_column(Integer)
    threshold_percent: Mapped[int] = mapped_column(SmallInteger)
    #: open, adopted, rejected or vetoed
    status: Mapped[str] = mapped_column(String(16), default="open")
    vetoed_by_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    veto_reason: Mapped[str | None] = mapped_column(String(REASON_LEN))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class Solicitation(Base):
    """A call for submissions (征集): members submit until ``closes_at``, then the submissions
    become a poll; its winner gets the reward held in the community pool."""

    __tablename__ = "solicitations"
    __table_args__ = (Index("ix_solicitations_due", "status", "closes_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    organiser_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(REASON_LEN))
    #: Points moved from the organiser to the pool when the call opened (0 = none).
    reward: Mapped[int] = mapped_column(BigInteger, default=0)
    #: open (taking submissions), voting (its poll is open), done, or void (nothing to vote on)
    status: Mapped[str] = mapped_column(String(16), default="open")
    closes_at: Mapped[datetime]
    poll_id: Mapped[int | None] = mapped_column(ForeignKey("polls.id", ondelete="SET NULL"))
    message_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    create_key: Mapped[str] = mapped_column(String(UPDATE_KEY_LEN + 64), unique=True)
    created_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]


class Submission(Base):
    """One member's entry to a call for submissions; editable until the call closes."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("solicitation_id", "member_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    solicitation_id: Mapped[int] = mapped_column(ForeignKey("solicitations.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(POLL_OPTION_LEN))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ScheduledSend(Base):
    """A scheduled message (birthday, anniversary, announcement): unique per (community,
    target, kind, occurrence), so enqueueing twice adds nothing; claimed once by the outbox
    tick, sent through the governor, then marked."""

    __tablename__ = "scheduled_sends"
    __table_args__ = (
        UniqueConstraint("community_id", "target", "kind", "occurrence"),
        Index("ix_scheduled_sends_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    #: Whom or what it is about: ``chat`` (a chat's birthdays), ``member:<id>``, ``announcement:<id>``.
    target: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    #: Which time: a local date, or the UTC instant of a recurring post.
    occurrence: Mapped[str] = mapped_column(String(64))
    #: What the sender needs to write it (member ids, an announcement id), JSON.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: When it was meant to go out; ``due_at`` moves on for quiet hours and the hourly cap.
    scheduled_for: Mapped[datetime]
    due_at: Mapped[datetime]
    #: pending, sending, sent, skipped (too late, or nothing to send), unsure (the bot
    #: stopped between sending and marking: never sent again), failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Announcement(Base):
    """A scheduled announcement (定时公告): a one-off time or a cron rule in the zone it was
    made in. Each occurrence goes out as a ``scheduled_sends`` row (kind ``announcement``);
    ``next_at`` is the one occurrence kept in the outbox."""

    __tablename__ = "announcements"
    __table_args__ = (
        Index("ix_announcements_due", "active", "next_at"),
        Index("ix_announcements_community", "community_id", "active"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    channel_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LEN))
    creator_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(ANNOUNCEMENT_LEN))
    #: The schedule as typed (shown by /schedules).
    spec: Mapped[str] = mapped_column(String(100))
    #: A five-field crontab rule with named weekdays; ``None``: a one-off at ``next_at``.
    cron: Mapped[str | None] = mapped_column(String(100))
    zone: Mapped[str] = mapped_column(String(64))
    #: The occurrence enqueued in the outbox now (UTC); ``None`` once a one-off is handed over.
    next_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    #: The platform update that created it: a redelivered command creates no second schedule.
    create_key: Mapped[str] = mapped_column(String(UPDATE_KEY_LEN + 64), unique=True)
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


class WaitingAction(Base):
    """An outbound action that was still waiting to be performed when the bot stopped; it goes
    out after the restart, in ``id`` order within its chat (see ``storage/waiting.py``)."""

    __tablename__ = "waiting_actions"
    __table_args__ = (Index("ix_waiting_actions_platform", "platform", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(PLATFORM_LEN))
    chat_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LEN))
    #: ``Action.kind`` (reply, send, ban...), for an operator reading the table.
    kind: Mapped[str] = mapped_column(String(32))
    #: The whole action as ``bot.actions.action_to_json`` writes it.
    action: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime]


class UndeliverableNotice(Base):
    """A private notice (``Notify`` with ``fallback = "record"``) the platform refused: kept so
    an operator (or a later feature) can see who could not be reached, and with what."""

    __tablename__ = "undeliverable_notices"
    __table_args__ = (Index("ix_undeliverable_notices_user", "platform", "user_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(PLATFORM_LEN))
    #: The community's chat the notice was about.
    chat_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LEN))
    user_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LEN))
    #: The notice's rich text as JSON (``RichText.model_dump(mode="json")``).
    text: Mapped[dict[str, Any]] = mapped_column()
    #: What the platform said (``bot can't initiate conversation``...), clipped.
    reason: Mapped[str] = mapped_column(String(REASON_LEN))
    created_at: Mapped[datetime]
