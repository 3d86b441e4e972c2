"""All repositories over one database, handed to handlers as ``ctx.store``."""

from __future__ import annotations

from storage.announcements import AnnouncementRepo
from storage.audit import AuditRepo
from storage.birthdays import BirthdayRepo
from storage.checkins import CheckInRepo
from storage.communities import CommunityRepo
from storage.db import Database
from storage.events import EventRepo
from storage.faq import FaqRepo
from storage.gates import GateRepo, InviteRepo
from storage.ledger import LedgerRepo
from storage.members import MemberRepo
from storage.moderation import FilterRepo, WarnRepo
from storage.moments import MomentRepo
from storage.notes import AutoReplyRepo, NotesRepo
from storage.notices import NoticeRepo
from storage.outbox import OutboxRepo
from storage.persona_voice import PersonaTextRepo
from storage.persons import PersonRepo
from storage.points import PointsService
from storage.polls import PollRepo
from storage.posts import PostsRepo
from storage.redpackets import RedPacketRepo
from storage.roles import RoleRepo
from storage.rules import RuleRepo
from storage.rulevotes import RuleVoteRepo
from storage.solicitations import SolicitationRepo
from storage.updates import UpdateRepo
from storage.waiting import WaitingRepo
from storage.welcomes import WelcomeRepo

__all__ = ["Store"]


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.communities = CommunityRepo(db)
        self.members = MemberRepo(db)
        self.persons = PersonRepo(db)
        self.roles = RoleRepo(db)
        self.updates = UpdateRepo(db)
        self.audit = AuditRepo()
        self.rules = RuleRepo()
        self.warns = WarnRepo()
        self.filters = FilterRepo(db)
        self.gates = GateRepo(db)
        self.invites = InviteRepo()
        self.ledger = LedgerRepo(db)
        #: The verbs features move points with (the ledger below owns the entries).
        self.points = PointsService(self.ledger)
        self.checkins = CheckInRepo(db)
        self.redpackets = RedPacketRepo(db)
        self.events = EventRepo(db)
        #: The FAQ's numbered entries (``/faq``; ``/ask`` searches them first).
        self.faq = FaqRepo(db)
        #: Saved replies (``/save``, ``/get``, ``#NAME``) and automatic answers (``/autoreply``).
        self.notes = NotesRepo(db)
        self.autoreplies = AutoReplyRepo(db)
        self.rule_votes = RuleVoteRepo()
        self.solicitations = SolicitationRepo(db)
        self.outbox = OutboxRepo(db)
        self.birthdays = BirthdayRepo()
        self.polls = PollRepo(db)
        self.announcements = AnnouncementRepo(db)
        self.waiting = WaitingRepo(db)
        self.notices = NoticeRepo()
        #: Message ids of posted objects (polls, packets, events...), bound by the dispatcher.
        self.posts = PostsRepo()
        #: A community's own welcome and goodbye, and its last welcome's message.
        self.welcomes = WelcomeRepo(db)
        #: A community's own persona texts (`/persona say`), held in memory for the renderer.
        self.persona_texts = PersonaTextRepo(db)
        #: Lines said once (milestones, holidays, welcome backs), call names, own holidays.
        self.moments = MomentRepo(db)

    def transaction(self):  # type: ignore[no-untyped-def]
        """Shortcut for ``db.transaction()``: one session, one transaction."""
        return self.db.transaction()
