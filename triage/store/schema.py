"""The store's tables: ``letters`` (one row per letter, with its routing and review) and ``events`` (audit trail).

The Alembic migrations in ``migrations/versions`` create exactly these tables; ``HEAD_REVISION`` names the
newest one, so opening a store can check the schema without importing Alembic.
"""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

#: The newest migration; a database at another revision must be upgraded (``triage db upgrade``).
HEAD_REVISION = "0001"

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})
_Json = JSON().with_variant(JSONB(), "postgresql")
_Time = DateTime(timezone=True)

letters = Table(
    "letters", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", _Time, nullable=False),
    Column("source", String(16), nullable=False),
    Column("text", Text, nullable=True),  # masked unless raw storage is on; NULL after a retention purge
    Column("category", String(32), nullable=True),  # the model's category
    Column("category_score", Float, nullable=False),
    Column("unit", String(64), nullable=True),  # the model's unit
    Column("unit_score", Float, nullable=False),
    Column("prediction", _Json, nullable=False),  # the rest of the model's answer (names, alternatives, evidence)
    Column("model_sha", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # routed | needs_review | reviewed
    Column("due_at", _Time, nullable=False),
    Column("repeat_of", Integer, ForeignKey("letters.id"), nullable=True),
    Column("minhash", LargeBinary, nullable=True),  # MinHash signature (uint32 x num_perm) for repeats
    Column("version", Integer, nullable=False, default=1),  # optimistic concurrency: +1 on every review
    Column("review_category", String(32), nullable=True),
    Column("review_unit", String(64), nullable=True),
    Column("reviewed_by", String(128), nullable=True),
    Column("reviewed_at", _Time, nullable=True),
    Column("review_note", Text, nullable=True),
    Index("ix_letters_status_received", "status", "received_at"),
    Index("ix_letters_received_at", "received_at"),
    Index("ix_letters_repeat_of", "repeat_of"),
    Index("ix_letters_reviewed_at", "reviewed_at"),
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # intake | review | purge | promotion | reload | ...
    Column("letter_id", Integer, ForeignKey("letters.id"), nullable=True),
    Column("by", String(128), nullable=True),
    Column("at", _Time, nullable=False),
    Column("payload", _Json, nullable=False),
    Index("ix_events_letter_id", "letter_id"),
    Index("ix_events_kind_at", "kind", "at"),
)
