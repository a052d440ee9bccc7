"""Repeat letters: MinHash signatures of character shingles and an LSH index over the last 30 days.

A letter whose estimated Jaccard similarity (over character 3-grams of the normalised, masked text) to a
letter received in the 30 days before it is at least ``THRESHOLD`` is a repeat: ``repeat_of`` is the first
letter of that case (the earlier letter's own ``repeat_of`` if it has one).

``THRESHOLD`` = 0.4 was read off 4,000 real letters (``benchmarks/repeat_threshold.py``, 8 million pairs):
170 pairs reach 0.4, and the sampled ones were all the same case again (the same street light, the same
illegal building, a complaint re-sent "依然"); between 0.25 and 0.4 the same case mixes with one writer's
letters on other subjects in the same words, and a wrong link would hide a case from the queue, while a missed
one only shows it twice.

Each letter's signature (``NUM_PERM`` uint32 values) is stored with it, so the index is rebuilt from the
database without recomputing anything, and kept in step with other workers by reading the letters it has not
seen yet before each look-up (see :meth:`RepeatIndex.sync`). datasketch imports SciPy, so it is imported on
first use (the service warms it up in the background after start-up), never at import.
"""
from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, and_, select

from ..text import normalize
from .schema import letters

THRESHOLD = 0.4
#: The LSH bands are tuned for a lower similarity than THRESHOLD, so that few true repeats are missed; the
#: signature comparison then applies THRESHOLD itself.
LSH_THRESHOLD = 0.3
NUM_PERM = 128
SHINGLE = 3
WINDOW = dt.timedelta(days=30)
#: Letters below the highest id seen are re-read this far back, for ids committed out of order (PostgreSQL).
ID_SLACK = 200
_SEED, _SCHEME = 1, "affine32"  # fixed: stored signatures must stay comparable across versions


def shingles(text: str) -> list[bytes]:
    """Character 3-grams of the normalised text, without white space (a shorter text is one shingle)."""
    s = "".join(normalize(text).split())
    if len(s) <= SHINGLE:
        return [s.encode()] if s else []
    return list({s[i : i + SHINGLE].encode() for i in range(len(s) - SHINGLE + 1)})


_template = None
_template_lock = threading.Lock()


def _minhash(hashvalues: np.ndarray | None = None):
    global _template
    from datasketch import MinHash

    with _template_lock:
        if _template is None:
            _template = MinHash(num_perm=NUM_PERM, seed=_SEED, scheme=_SCHEME)
    # the permutations are the same for every signature: generating them each time cost more than hashing
    return MinHash(num_perm=NUM_PERM, seed=_SEED, hashvalues=hashvalues, permutations=_template.permutations,
                   scheme=_SCHEME)


def signature(text: str) -> bytes:
    """The text's MinHash signature as bytes (``NUM_PERM`` little-endian uint32), for the ``minhash`` column."""
    m = _minhash()
    m.update_batch(shingles(text))
    return np.asarray(m.hashvalues, dtype="<u4").tobytes()


def _values(sig: bytes) -> np.ndarray:
    return np.frombuffer(sig, dtype="<u4")


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of two signatures: the share of positions where they agree."""
    return float(np.mean(_values(a) == _values(b)))


@dataclass(frozen=True)
class Match:
    letter_id: int
    case_id: int  # the first letter of the case: what repeat_of points to
    similarity: float


class RepeatIndex:
    """LSH over the signatures of recent letters, one per process; :meth:`sync` reads what others wrote."""

    def __init__(self) -> None:
        self._lsh = None
        self._entries: dict[int, tuple[dt.datetime, int, bytes]] = {}  # id -> (received_at, case id, signature)
        self._max_id = 0
        self.horizon: dt.datetime | None = None  # letters received before it are not in the index

    def _index(self):
        if self._lsh is None:
            from datasketch import MinHashLSH

            self._lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
        return self._lsh

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, letter_id: int, received_at: dt.datetime, case_id: int, sig: bytes) -> None:
        if letter_id in self._entries or (self.horizon and received_at < self.horizon):
            return
        self._index().insert(letter_id, _minhash(_values(sig).astype(np.uint64)))
        self._entries[letter_id] = (received_at, case_id, sig)
        self._max_id = max(self._max_id, letter_id)

    def sync(self, conn: Connection, now: dt.datetime) -> None:
        """Add the letters written since the last sync (by this or any other process); drop those now older
        than the window. The first call reads the whole window: that is the rebuild at start-up."""
        horizon = now - WINDOW
        if self.horizon is None or horizon > self.horizon:
            for lid in [i for i, (at, _, _) in self._entries.items() if at < horizon]:
                self._index().remove(lid)
                del self._entries[lid]
            self.horizon = horizon
        known = self._entries
        ids = conn.execute(select(letters.c.id).where(and_(
            letters.c.id > self._max_id - ID_SLACK, letters.c.minhash.is_not(None),
            letters.c.received_at >= horizon))).scalars().all()
        new = [i for i in ids if i not in known]
        for start in range(0, len(new), 500):
            for row in conn.execute(_rows_query().where(letters.c.id.in_(new[start : start + 500]))):
                self.add(row.id, _utc(row.received_at), row.repeat_of or row.id, row.minhash)

    def find(self, conn: Connection, sig: bytes, received_at: dt.datetime) -> Match | None:
        """The most similar earlier letter within the window before ``received_at``, if similar enough."""
        since = received_at - WINDOW
        if self.horizon is not None and since >= self.horizon:
            cands = ((i, *self._entries[i]) for i in self._index().query(_minhash(_values(sig).astype(np.uint64))))
        else:  # a letter dated before the index's window (e.g. a back-filed batch): ask the database
            rows = conn.execute(_rows_query().where(and_(
                letters.c.minhash.is_not(None), letters.c.received_at >= since,
                letters.c.received_at <= received_at)))
            cands = ((r.id, _utc(r.received_at), r.repeat_of or r.id, r.minhash) for r in rows)
        best: Match | None = None
        for lid, at, case_id, other in cands:
            if not since <= at <= received_at:
                continue
            s = similarity(sig, other)
            if s >= THRESHOLD and (best is None or (s, -lid) > (best.similarity, -best.letter_id)):
                best = Match(lid, case_id, s)
        return best


def _rows_query():
    return select(letters.c.id, letters.c.received_at, letters.c.repeat_of, letters.c.minhash)


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
