"""The letter store: intake, queue, review with optimistic concurrency, audit trail, retention, export.

Every change writes its event in the same transaction as the change itself, so the audit trail never misses
one and never records one that did not happen. Texts are stored masked (:func:`triage.text.mask_pii`) unless
raw storage is switched on. All methods are blocking: call them off the event loop in async code.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, and_, case, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from ..errors import TriageError
from ..text import mask_pii
from . import repeats
from .deadlines import Deadlines
from .records import SOURCES, STATUSES, Event, Letter, Review, utc
from .schema import events, letters

log = logging.getLogger(__name__)


class LetterNotFound(TriageError, LookupError):
    """No letter has this id."""


class ReviewConflict(TriageError):
    """The letter changed since the caller read it (someone else reviewed it first)."""

    def __init__(self, letter_id: int, given: int, current: int) -> None:
        super().__init__(f"Letter {letter_id} is at version {current}, not {given}: someone reviewed it first. "
                         "Reload it and review again if still needed.")
        self.letter_id, self.given, self.current = letter_id, given, current


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_REPEATS = aliased(letters, name="repeat_letters")
_REPEAT_COUNT = (select(func.count()).select_from(_REPEATS).where(_REPEATS.c.repeat_of == letters.c.id)
                 .correlate(letters).scalar_subquery().label("repeats"))
_LETTER_COLUMNS = [c for c in letters.c if c.name != "minhash"]
_FINAL_CATEGORY = func.coalesce(letters.c.review_category, letters.c.category)
_FINAL_UNIT = func.coalesce(letters.c.review_unit, letters.c.unit)
_CERTAINTY = case((letters.c.category_score < letters.c.unit_score, letters.c.category_score),
                  else_=letters.c.unit_score)


class LetterStore:
    """Letters and events in one database (SQLite file or PostgreSQL); see :func:`triage.store.open_store`."""

    def __init__(self, engine: Engine, *, raw_text: bool = False, deadlines: Deadlines | None = None,
                 retention_days: int | None = None, clock: Callable[[], dt.datetime] = _now) -> None:
        self.engine, self.raw_text, self.retention_days, self.clock = engine, raw_text, retention_days, clock
        self.deadlines = deadlines or Deadlines.load()
        self._repeats = repeats.RepeatIndex()
        self._write_lock = threading.Lock()  # one writer per process: the repeat index is shared state

    def close(self) -> None:
        self.engine.dispose()

    def _write(self):
        return self.engine.connect().execution_options(write=True)

    # -- intake ---------------------------------------------------------------------------------------------
    def add(self, texts_and_meta: Sequence[Mapping[str, Any] | str], predictions: Sequence[Any], model_sha: str,
            by: str | None = None) -> list[Letter]:
        """Store letters with the model's answers, in one transaction; returns them as stored.

        Each item is a text or a mapping with ``text`` and optional ``source`` (box|hotline|web|batch|other,
        default other) and ``received_at`` (aware datetime; default now). ``predictions`` are
        :class:`triage.Prediction` objects (or their ``to_dict()``), one per item.
        """
        [out] = self.add_groups([(texts_and_meta, predictions, model_sha, by)])
        if isinstance(out, Exception):
            raise out
        return out

    def add_groups(self, groups: Sequence[tuple[Sequence[Mapping[str, Any] | str], Sequence[Any], str, str | None]]
                   ) -> list[list[Letter] | ValueError]:
        """Several :meth:`add` calls (``(items, predictions, model_sha, by)`` each) in one transaction: one
        commit (one disk flush) for letters that arrived together. A group with a bad item gets its
        ``ValueError`` in its place and stores nothing; a database failure fails them all."""
        now = self.clock()
        prepared: list[list[tuple[dict[str, Any], bytes]] | ValueError] = []
        for items, preds, sha, _ in groups:
            try:
                if len(items) != len(preds):
                    raise ValueError(f"{len(items)} letters but {len(preds)} predictions")
                prepared.append([self._intake_row(item, pred, sha, now) for item, pred in zip(items, preds)])
            except ValueError as e:
                prepared.append(e)
        ids: list[list[int]] = [[] for _ in groups]
        with self._write_lock, self._write() as conn:
            try:
                with conn.begin():
                    self._repeats.sync(conn, now)
                    for k, ((_, _, sha, by), rows) in enumerate(zip(groups, prepared)):
                        if isinstance(rows, ValueError):
                            continue
                        for row, sig in rows:
                            ids[k].append(self._insert(conn, row, sig, sha, by, now))
            except BaseException:
                self._repeats = repeats.RepeatIndex()  # it may hold letters that were rolled back: rebuild
                raise
        stored = iter(self._get_many([i for group in ids for i in group]))
        return [rows if isinstance(rows, ValueError) else [next(stored) for _ in rows]
                for rows in prepared]

    def warm_up(self) -> int:
        """Import datasketch and build the repeat index from the stored signatures now, rather than at the first
        intake (the service calls it in the background after start-up). Returns the letters indexed."""
        with self._write_lock, self.engine.connect() as conn:
            self._repeats.sync(conn, self.clock())
            repeats.signature("")  # imports datasketch (and SciPy) and makes the permutations
            return len(self._repeats)

    def _insert(self, conn: Any, row: dict[str, Any], sig: bytes, sha: str, by: str | None,
                now: dt.datetime) -> int:
        """Insert one letter (linked to its case, if a repeat) and its intake event; returns its id."""
        match = self._repeats.find(conn, sig, row["received_at"])
        row["repeat_of"] = match.case_id if match else None
        lid = conn.execute(insert(letters).values(**row, minhash=sig)).inserted_primary_key[0]
        conn.execute(insert(events).values(kind="intake", letter_id=lid, by=by, at=now, payload={
            "source": row["source"], "category": row["category"], "unit": row["unit"], "status": row["status"],
            "model_sha": sha, "repeat_of": row["repeat_of"],
            "similarity": round(match.similarity, 3) if match else None}))
        self._repeats.add(lid, row["received_at"], row["repeat_of"] or lid, sig)
        return lid

    def _intake_row(self, item: Mapping[str, Any] | str, pred: Any, model_sha: str,
                    now: dt.datetime) -> tuple[dict[str, Any], bytes]:
        meta = {"text": item} if isinstance(item, str) else dict(item)
        text = meta["text"]
        source = meta.get("source") or "other"
        if source not in SOURCES:
            raise ValueError(f"source {source!r} is not one of {', '.join(SOURCES)}")
        received = utc(meta.get("received_at") or now)
        p = pred.to_dict() if hasattr(pred, "to_dict") else dict(pred)
        stored = text if self.raw_text else mask_pii(text)
        masked = stored if not self.raw_text else mask_pii(text)
        row = {
            "received_at": received, "source": source, "text": stored,
            "category": p["category"], "category_score": float(p["category_score"]),
            "unit": p["unit"], "unit_score": float(p["unit_score"]),
            "prediction": {k: p.get(k) for k in ("char", "name", "unit_name", "unit_source", "alternatives",
                                                  "unit_alternatives", "evidence", "review_reasons")},
            "model_sha": model_sha, "status": "needs_review" if p.get("needs_review") else "routed",
            "due_at": self.deadlines.due_at(received, p["category"]), "version": 1,
        }
        return row, repeats.signature(masked)

    # -- reading --------------------------------------------------------------------------------------------
    def _letter(self, row: Any, now: dt.datetime) -> Letter:
        p = row.prediction or {}
        due = utc(row.due_at)
        review = None
        if row.status == "reviewed":
            review = Review(category=row.review_category, unit=row.review_unit, by=row.reviewed_by,
                            at=utc(row.reviewed_at), note=row.review_note or "",
                            corrected=(row.review_category, row.review_unit) != (row.category, row.unit))
        return Letter(
            id=row.id, received_at=utc(row.received_at), source=row.source, text=row.text,
            category=row.category, category_name=p.get("name", ""), char=p.get("char", ""),
            category_score=row.category_score, unit=row.unit, unit_name=p.get("unit_name", ""),
            unit_score=row.unit_score, unit_source=p.get("unit_source", "none"),
            alternatives=p.get("alternatives") or [], unit_alternatives=p.get("unit_alternatives") or [],
            evidence=p.get("evidence") or [], review_reasons=p.get("review_reasons") or [],
            model_sha=row.model_sha, status=row.status, due_at=due,
            overdue=row.status == "needs_review" and due < now, repeat_of=row.repeat_of, repeats=row.repeats,
            version=row.version, review=review,
        )

    def _select(self):
        return select(*_LETTER_COLUMNS, _REPEAT_COUNT)

    def _get_many(self, ids: Sequence[int]) -> list[Letter]:
        if not ids:
            return []
        now = self.clock()
        with self.engine.connect() as conn:
            rows = {r.id: r for r in conn.execute(self._select().where(letters.c.id.in_(list(ids))))}
        return [self._letter(rows[i], now) for i in ids]

    def get(self, letter_id: int) -> Letter:
        """The letter, or :class:`LetterNotFound`."""
        with self.engine.connect() as conn:
            row = conn.execute(self._select().where(letters.c.id == letter_id)).first()
        if row is None:
            raise LetterNotFound(f"No letter has id {letter_id}.")
        return self._letter(row, self.clock())

    def list(self, status: str | None = None, unit: str | None = None, category: str | None = None,
             since: dt.datetime | None = None, limit: int = 50, offset: int = 0,
             include_repeats: bool = False) -> tuple[list[Letter], int]:
        """A page of letters and the total matching. ``unit`` and ``category`` match the final labels (the
        review's, else the model's). The needs_review queue leaves out repeats (unless ``include_repeats``)
        and puts overdue letters first, then the least certain, then the oldest; reviewed letters come newest
        review first; anything else newest first."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        now = self.clock()
        where = []
        if status:
            where.append(letters.c.status == status)
        if status == "needs_review" and not include_repeats:
            where.append(letters.c.repeat_of.is_(None))
        if unit:
            where.append(_FINAL_UNIT == unit)
        if category:
            where.append(_FINAL_CATEGORY == category)
        if since:
            where.append(letters.c.received_at >= utc(since))
        cond = and_(True, *where)
        if status == "needs_review":
            order = [case((letters.c.due_at < now, 0), else_=1), _CERTAINTY, letters.c.received_at, letters.c.id]
        elif status == "reviewed":
            order = [letters.c.reviewed_at.desc(), letters.c.id.desc()]
        else:
            order = [letters.c.received_at.desc(), letters.c.id.desc()]
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(letters).where(cond)).scalar_one()
            rows = conn.execute(self._select().where(cond).order_by(*order).limit(limit).offset(offset)).all()
        return [self._letter(r, now) for r in rows], total

    # -- review ---------------------------------------------------------------------------------------------
    def review(self, letter_id: int, *, version: int, category: str, unit: str, by: str,
               note: str = "") -> Letter:
        """Confirm or correct the routing. Only succeeds if the letter is still at ``version`` (else
        :class:`ReviewConflict`): two clerks can never overwrite each other silently."""
        now = self.clock()
        note = note if self.raw_text else mask_pii(note)
        with self._write() as conn, conn.begin():
            before = conn.execute(select(letters.c.category, letters.c.unit, letters.c.review_category,
                                         letters.c.review_unit, letters.c.status, letters.c.received_at,
                                         letters.c.version).where(letters.c.id == letter_id)).first()
            if before is None:
                raise LetterNotFound(f"No letter has id {letter_id}.")
            done = conn.execute(
                update(letters).where(letters.c.id == letter_id, letters.c.version == version).values(
                    status="reviewed", review_category=category, review_unit=unit, reviewed_by=by,
                    reviewed_at=now, review_note=note, version=letters.c.version + 1,
                    due_at=self.deadlines.due_at(utc(before.received_at), category)))
            if done.rowcount != 1:
                raise ReviewConflict(letter_id, version, before.version)
            conn.execute(insert(events).values(kind="review", letter_id=letter_id, by=by, at=now, payload={
                "from": {"status": before.status, "category": before.review_category or before.category,
                         "unit": before.review_unit or before.unit},
                "to": {"category": category, "unit": unit},
                "corrected": (category, unit) != (before.category, before.unit),
                "version": version + 1, "note": note}))
        return self.get(letter_id)

    # -- audit trail ----------------------------------------------------------------------------------------
    def record_event(self, kind: str, payload: Mapping[str, Any], by: str | None = None,
                     letter_id: int | None = None) -> Event:
        """Append an event (e.g. ``promotion`` with the comparison, ``reload`` with the model shas)."""
        now = self.clock()
        with self._write() as conn, conn.begin():
            eid = conn.execute(insert(events).values(kind=kind, letter_id=letter_id, by=by, at=now,
                                                     payload=dict(payload))).inserted_primary_key[0]
        return Event(eid, kind, letter_id, by, now, dict(payload))

    def events(self, letter_id: int | None = None, kind: str | None = None) -> list[Event]:
        """Events, oldest first, optionally of one letter and/or one kind."""
        q = select(events).order_by(events.c.id)
        if letter_id is not None:
            q = q.where(events.c.letter_id == letter_id)
        if kind is not None:
            q = q.where(events.c.kind == kind)
        with self.engine.connect() as conn:
            return [Event(r.id, r.kind, r.letter_id, r.by, utc(r.at), r.payload or {}) for r in conn.execute(q)]

    # -- export, statistics, retention ----------------------------------------------------------------------
    def reviewed(self, since: dt.datetime | None = None, chunk: int = 500) -> Iterator[Letter]:
        """Reviewed letters, oldest review first (``since``: reviewed at or after), read in chunks."""
        cond = letters.c.status == "reviewed"
        if since:
            cond = and_(cond, letters.c.reviewed_at >= utc(since))
        with self.engine.connect() as conn:
            ids = conn.execute(select(letters.c.id).where(cond).order_by(letters.c.reviewed_at, letters.c.id)
                               ).scalars().all()
        for start in range(0, len(ids), chunk):
            yield from self._get_many(ids[start : start + chunk])

    def stats(self) -> dict[str, Any]:
        """Counts for the desk's counters: total, by status, reviewed, corrected, repeats, and for the queue as
        :meth:`list` shows it (needs_review, repeats left out): ``queue`` and ``overdue``."""
        now = self.clock()

        def count(cond) -> Any:
            return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

        corrected = and_(letters.c.status == "reviewed", or_(
            letters.c.review_category.is_distinct_from(letters.c.category),
            letters.c.review_unit.is_distinct_from(letters.c.unit)))
        queued = and_(letters.c.status == "needs_review", letters.c.repeat_of.is_(None))
        q = select(func.count(), *(count(letters.c.status == s) for s in STATUSES), count(corrected),
                   count(queued), count(and_(queued, letters.c.due_at < now)), count(letters.c.repeat_of.is_not(None)))
        with self.engine.connect() as conn:
            total, *by_status, n_corrected, queue, overdue, n_repeats = conn.execute(q).one()
        return {"total": total, "by_status": dict(zip(STATUSES, map(int, by_status))),
                "reviewed": int(by_status[2]), "corrected": int(n_corrected), "queue": int(queue),
                "overdue": int(overdue), "repeats": int(n_repeats)}

    def purge(self, days: int | None = None, by: str = "retention", chunk: int = 500) -> int:
        """Erase the text (and what was derived from it: evidence, signature, note) of letters received more
        than ``days`` (default: the store's retention setting) days ago; one ``purge`` event per letter.
        Returns how many letters were purged; with no retention setting, nothing happens."""
        days = self.retention_days if days is None else days
        if days is None:
            return 0
        if days < 0:
            raise ValueError("retention days must be 0 or more")
        now = self.clock()
        cutoff = now - dt.timedelta(days=days)
        purged = 0
        while True:
            with self._write() as conn, conn.begin():
                rows = conn.execute(select(letters.c.id, letters.c.prediction).where(and_(
                    letters.c.received_at < cutoff,
                    or_(letters.c.text.is_not(None), letters.c.minhash.is_not(None))))
                    .order_by(letters.c.id).limit(chunk)).all()
                for r in rows:
                    conn.execute(update(letters).where(letters.c.id == r.id).values(
                        text=None, minhash=None, review_note=None,
                        prediction={**(r.prediction or {}), "evidence": []}))
                    conn.execute(insert(events).values(kind="purge", letter_id=r.id, by=by, at=now,
                                                       payload={"retention_days": days}))
            purged += len(rows)
            if len(rows) < chunk:
                break
        if purged:
            log.info("retention: purged the texts of %d letters received before %s", purged, cutoff.date())
        return purged
