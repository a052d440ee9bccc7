"""Letters and their append-only audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_Json = sa.JSON().with_variant(JSONB(), "postgresql")
_Time = sa.DateTime(timezone=True)

# Events are append-only: the database itself refuses to change or delete one.
_SQLITE_GUARDS = [
    (f"CREATE TRIGGER events_no_{verb} BEFORE {verb.upper()} ON events "
     "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END")
    for verb in ("update", "delete")
]
_PG_GUARD = [
    """CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'events are append-only'; END $$""",
    ("CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
     "FOR EACH ROW EXECUTE FUNCTION events_append_only()"),
]


def upgrade() -> None:
    op.create_table(
        "letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("received_at", _Time, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("category_score", sa.Float, nullable=False),
        sa.Column("unit", sa.String(64), nullable=True),
        sa.Column("unit_score", sa.Float, nullable=False),
        sa.Column("prediction", _Json, nullable=False),
        sa.Column("model_sha", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", _Time, nullable=False),
        sa.Column("repeat_of", sa.Integer, sa.ForeignKey("letters.id", name="fk_letters_repeat_of_letters"),
                  nullable=True),
        sa.Column("minhash", sa.LargeBinary, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("review_category", sa.String(32), nullable=True),
        sa.Column("review_unit", sa.String(64), nullable=True),
        sa.Column("reviewed_by", sa.String(128), nullable=True),
        sa.Column("reviewed_at", _Time, nullable=True),
        sa.Column("review_note", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_letters"),
    )
    op.create_index("ix_letters_status_received", "letters", ["status", "received_at"])
    op.create_index("ix_letters_received_at", "letters", ["received_at"])
    op.create_index("ix_letters_repeat_of", "letters", ["repeat_of"])
    op.create_index("ix_letters_reviewed_at", "letters", ["reviewed_at"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("letter_id", sa.Integer, sa.ForeignKey("letters.id", name="fk_events_letter_id_letters"),
                  nullable=True),
        sa.Column("by", sa.String(128), nullable=True),
        sa.Column("at", _Time, nullable=False),
        sa.Column("payload", _Json, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_letter_id", "events", ["letter_id"])
    op.create_index("ix_events_kind_at", "events", ["kind", "at"])
    guards = _PG_GUARD if op.get_bind().dialect.name == "postgresql" else _SQLITE_GUARDS
    for sql in guards:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
        op.execute("DROP FUNCTION IF EXISTS events_append_only()")
    op.drop_table("events")
    op.drop_table("letters")
