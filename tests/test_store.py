"""The letter store on a SQLite file and on a real PostgreSQL server: intake, queue, review, repeats,
deadlines, retention, audit trail, migrations, export, and a writer killed mid-write (tests mirror triage/store)."""
from __future__ import annotations

import csv
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text as sql

from triage.store import (
    Deadlines,
    LetterNotFound,
    ReviewConflict,
    StoreError,
    open_store,
    repeats,
)
from triage.store import engine as store_engine
from triage.store.export import COLUMNS, write_corrections
from triage.store.schema import HEAD_REVISION

ROOT = Path(__file__).resolve().parent.parent
UTC = dt.UTC
PHONE = "13812345678"
LETTER = f"东坝派出所户籍窗口下午三点就没人了，等了一下午也没办成。我的电话{PHONE}，身份证110101199003071234"
OTHER = "医保报销材料交了四个月钱还没到账，打电话问医保局也没人说清楚什么时候能办好"
THIRD = "城管执法队员在菜市场门口乱罚款，态度恶劣，摊主们敢怒不敢言，希望有关部门严肃处理"


@pytest.fixture
def store(db_url):
    s = open_store(db_url)
    yield s
    s.close()


def add(store, model, texts, **meta):
    preds = model.classify_many(list(texts), top_k=3)
    return store.add([{"text": t, **meta} for t in texts], preds, model.manifest["artifact"]["sha256"])


def at(days_ago: float) -> dt.datetime:
    return dt.datetime.now(UTC) - dt.timedelta(days=days_ago)


# -- schema and connections ---------------------------------------------------------------------------------
def test_fresh_database_is_created_at_the_head_revision_and_matches_the_tables(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    assert store_engine.current_revision(store.engine) == HEAD_REVISION == store_engine.head_revision()
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), store_engine_metadata())
    assert diffs == []  # the migration builds exactly what schema.py describes


def store_engine_metadata():
    from triage.store.schema import metadata

    return metadata


def _execute_behind_the_store(db_url, statement):
    """Run ``statement`` on the database directly, as another program or an old release would."""
    engine = store_engine.make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sql(statement))
    engine.dispose()


def test_database_at_another_revision_is_refused_with_the_upgrade_command(db_url):
    open_store(db_url).close()
    _execute_behind_the_store(db_url, "UPDATE alembic_version SET version_num = '0000'")
    with pytest.raises(StoreError, match="triage db upgrade"):
        open_store(db_url)


def test_a_foreign_letters_table_is_not_taken_over(db_url):
    _execute_behind_the_store(db_url, "CREATE TABLE letters (id INTEGER PRIMARY KEY, body TEXT)")
    with pytest.raises(StoreError, match="not made by triage"):
        open_store(db_url)


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    with s.engine.connect() as conn:
        assert conn.execute(sql("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sql("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(sql("PRAGMA busy_timeout")).scalar() == store_engine.SQLITE_BUSY_MS
    s.close()


def test_urls_map_postgresql_to_psycopg_and_hide_passwords():
    assert store_engine.engine_url("postgresql://u:pw@h/db").drivername == "postgresql+psycopg"
    assert store_engine.engine_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert "pw" not in store_engine.safe_url("postgresql://u:pw@h/db")
    with pytest.raises(StoreError, match="Unsupported"):
        store_engine.engine_url("mysql://u@h/db")
    with pytest.raises(StoreError, match="Cannot open"):
        open_store("postgresql://nobody:pw@127.0.0.1:1/none")


def test_events_are_append_only_in_the_database(store, model):
    add(store, model, [OTHER])
    with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
        conn.execute(sql("UPDATE events SET kind = 'x'"))
    with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
        conn.execute(sql("DELETE FROM events"))
    assert [e.kind for e in store.events()] == ["intake"]


# -- intake ---------------------------------------------------------------------------------------------------
def test_intake_masks_the_text_keeps_evidence_offsets_and_records_an_event(store, model):
    [letter] = add(store, model, [LETTER], source="box")
    pred = model.classify_many([LETTER], top_k=3)[0]
    assert PHONE not in letter.text and "138****5678" in letter.text and "110101********1234" in letter.text
    assert len(letter.text) == len(LETTER)
    assert (letter.category, letter.unit, letter.source) == (pred.category, pred.unit, "box")
    assert letter.status == ("needs_review" if pred.needs_review else "routed")
    assert letter.evidence and all(letter.text[e["start"]:e["end"]] == e["term"] for e in letter.evidence)
    assert letter.version == 1 and letter.review is None and letter.repeat_of is None
    assert store.get(letter.id).to_dict() == letter.to_dict()
    [event] = store.events(letter_id=letter.id)
    assert event.kind == "intake" and event.payload["category"] == pred.category
    assert PHONE not in str(event.payload) and "户籍窗口" not in str(event.payload)


def test_raw_storage_keeps_the_text_as_sent(db_url, model):
    s = open_store(db_url, raw_text=True)
    [letter] = add(s, model, [LETTER])
    assert s.get(letter.id).text == LETTER
    s.close()


def test_intake_rejects_unknown_sources_and_mismatched_predictions(store, model):
    with pytest.raises(ValueError, match="source"):
        add(store, model, [OTHER], source="fax")
    with pytest.raises(ValueError, match="predictions"):
        store.add([OTHER, THIRD], model.classify_many([OTHER]), "sha")
    assert store.stats()["total"] == 0


def test_groups_written_together_keep_their_own_errors(store, model):
    """Group commit: letters of several requests in one transaction; a bad request stores nothing of its own."""
    preds = model.classify_many([OTHER, THIRD, LETTER])
    sha = model.manifest["artifact"]["sha256"]
    a, bad, b = store.add_groups([([OTHER], preds[:1], sha, "ann"), ([{"text": THIRD, "source": "fax"}],
                                  preds[1:2], sha, "bob"), ([LETTER, OTHER], [preds[2], preds[0]], sha, "cy")])
    assert isinstance(bad, ValueError) and "fax" in str(bad)
    assert [x.text for x in a] == [OTHER] and [x.text[:4] for x in b] == [LETTER[:4], OTHER[:4]]
    assert b[1].repeat_of == a[0].id  # a repeat of a letter written earlier in the same transaction
    assert [(e.letter_id, e.by) for e in store.events(kind="intake")] == [(a[0].id, "ann"), (b[0].id, "cy"),
                                                                          (b[1].id, "cy")]
    assert store.stats()["total"] == 3


def test_get_unknown_id_raises(store):
    with pytest.raises(LetterNotFound):
        store.get(12345)


# -- review ---------------------------------------------------------------------------------------------------
def test_review_bumps_the_version_and_a_stale_version_conflicts(store, model):
    [letter] = add(store, model, [OTHER])
    done = store.review(letter.id, version=1, category="misconduct", unit="police", by="ann", note=f"回电 {PHONE}")
    assert done.status == "reviewed" and done.version == 2
    assert done.review.category == "misconduct" and done.review.by == "ann" and done.review.corrected
    assert PHONE not in done.review.note
    with pytest.raises(ReviewConflict) as e:
        store.review(letter.id, version=1, category="slow", unit="medins", by="bob")
    assert e.value.current == 2
    assert store.get(letter.id).review.category == "misconduct"  # not overwritten
    kinds = [(ev.kind, ev.by) for ev in store.events(letter_id=letter.id)]
    assert kinds == [("intake", None), ("review", "ann")]
    with pytest.raises(LetterNotFound):
        store.review(999, version=1, category="slow", unit="police", by="ann")


def test_two_clerks_reviewing_at_once_exactly_one_wins(store, model):
    [letter] = add(store, model, [OTHER])
    barrier, outcomes = threading.Barrier(2), []

    def clerk(name: str, category: str) -> None:
        barrier.wait()
        try:
            store.review(letter.id, version=1, category=category, unit="medins", by=name)
            outcomes.append(("ok", name))
        except ReviewConflict:
            outcomes.append(("conflict", name))

    threads = [threading.Thread(target=clerk, args=(n, c)) for n, c in (("ann", "slow"), ("bob", "lazy"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o for o, _ in outcomes) == ["conflict", "ok"]
    winner = next(n for o, n in outcomes if o == "ok")
    final = store.get(letter.id)
    assert final.review.by == winner and final.version == 2
    assert len(store.events(letter_id=letter.id, kind="review")) == 1


def test_confirming_the_model_is_not_a_correction(store, model):
    [letter] = add(store, model, [OTHER])
    done = store.review(letter.id, version=1, category=letter.category, unit=letter.unit, by="ann")
    assert not done.review.corrected
    assert store.stats()["corrected"] == 0 and store.stats()["reviewed"] == 1


# -- queue ----------------------------------------------------------------------------------------------------
def _force_needs_review(store, ids, scores):
    with store.engine.begin() as conn:
        for i, (c, u) in zip(ids, scores):
            conn.execute(sql("UPDATE letters SET status='needs_review', category_score=:c, unit_score=:u WHERE id=:i"),
                         {"c": c, "u": u, "i": i})


def test_queue_puts_overdue_first_then_least_certain_then_oldest(store, model):
    old = add(store, model, ["窗口工作人员上班时间玩手机打游戏，群众排队没人管"], received_at=at(40))[0]
    rest = add(store, model, [OTHER, THIRD, "县政务中心窗口办事要跑五六趟，材料一次说不清楚"], received_at=at(0.1))
    ids = [old.id] + [x.id for x in rest]
    _force_needs_review(store, ids, [(0.9, 0.9), (0.5, 0.9), (0.9, 0.2), (0.5, 0.6)])
    queue, total = store.list(status="needs_review")
    assert total == 4
    assert [x.id for x in queue] == [old.id, rest[1].id, rest[0].id, rest[2].id]
    assert queue[0].overdue and not any(x.overdue for x in queue[1:])
    [repeat] = add(store, model, [old.text], received_at=at(39))  # an overdue copy of a case: not in the queue
    assert repeat.repeat_of == old.id
    _force_needs_review(store, [repeat.id], [(0.1, 0.1)])
    page, total = store.list(status="needs_review", limit=2, offset=1)
    assert total == 4 and [x.id for x in page] == [rest[1].id, rest[0].id]
    stats = store.stats()
    assert stats["overdue"] == 1 and stats["queue"] == 4 and stats["by_status"]["needs_review"] == 5


def test_filters_match_final_labels_and_reviewed_letters_come_newest_first(store, model):
    a, b, c = add(store, model, [OTHER, THIRD, LETTER])
    store.review(a.id, version=1, category="misconduct", unit="urban", by="ann")
    store.review(b.id, version=1, category="misconduct", unit="urban", by="ann")
    reviewed, total = store.list(status="reviewed")
    assert [x.id for x in reviewed] == [b.id, a.id] and total == 2
    by_unit, total = store.list(unit="urban")
    assert {x.id for x in by_unit} == {a.id, b.id} | ({c.id} if c.unit == "urban" else set())
    assert store.list(category="misconduct", status="reviewed")[1] == 2
    assert store.list(since=at(-1))[1] == 0 and store.list(since=at(1))[1] == 3
    with pytest.raises(ValueError):
        store.list(status="lost")


# -- repeats --------------------------------------------------------------------------------------------------
def test_near_duplicates_link_to_the_first_letter_of_the_case(store, model):
    first = add(store, model, [THIRD], received_at=at(10))[0]
    second = add(store, model, [THIRD + "我们已经反映过一次了。"], received_at=at(5))[0]
    third = add(store, model, ["我们已经反映过一次了。" + THIRD + "请尽快答复"], received_at=at(1))[0]
    unrelated = add(store, model, [OTHER], received_at=at(1))[0]
    assert second.repeat_of == first.id and third.repeat_of == first.id and unrelated.repeat_of is None
    assert store.get(first.id).repeats == 2
    _force_needs_review(store, [first.id, second.id, third.id], [(0.5, 0.5)] * 3)
    ids = [x.id for x in store.list(status="needs_review")[0]]
    assert first.id in ids and second.id not in ids and third.id not in ids
    assert second.id in [x.id for x in store.list(status="needs_review", include_repeats=True)[0]]
    events = store.events(letter_id=second.id, kind="intake")
    assert events[0].payload["repeat_of"] == first.id and events[0].payload["similarity"] >= repeats.THRESHOLD


def test_a_copy_older_than_thirty_days_is_a_new_case(store, model):
    first = add(store, model, [THIRD], received_at=at(45))[0]
    again = add(store, model, [THIRD], received_at=at(1))[0]
    assert again.repeat_of is None
    backfiled = add(store, model, [THIRD], received_at=at(40))[0]  # before the index window: read from the DB
    assert backfiled.repeat_of == first.id


def test_another_process_sees_the_same_cases(db_url, model):
    """Each worker keeps its own index; it reads what the others stored before every look-up."""
    a, b = open_store(db_url), open_store(db_url)
    first = add(a, model, [THIRD])[0]
    assert add(b, model, [THIRD + "再次反映"])[0].repeat_of == first.id
    assert add(a, model, ["再次反映：" + THIRD])[0].repeat_of == first.id
    fresh = open_store(db_url)  # rebuilt from the stored signatures
    assert add(fresh, model, [THIRD])[0].repeat_of == first.id
    assert len(fresh._repeats) == 4
    for s in (a, b, fresh):
        s.close()


def test_signature_similarity_tracks_shared_shingles():
    a = repeats.signature(THIRD)
    assert repeats.similarity(a, repeats.signature(THIRD)) == 1.0
    assert repeats.similarity(a, repeats.signature(OTHER)) < 0.2
    assert repeats.similarity(a, repeats.signature(THIRD + "我们已经反映过一次了。")) >= repeats.THRESHOLD
    assert len(a) == 4 * repeats.NUM_PERM


# -- deadlines ------------------------------------------------------------------------------------------------
def test_deadlines_count_working_days_in_local_time():
    d = Deadlines(days={"misconduct": 3}, default=15, timezone="Asia/Shanghai")
    friday = dt.datetime(2026, 3, 6, 2, 0, tzinfo=UTC)  # Friday 10:00 in Beijing
    assert d.due_at(friday, "misconduct") == dt.datetime(2026, 3, 11, 16, 0, tzinfo=UTC)  # end of Wednesday
    late_sunday_utc = dt.datetime(2026, 3, 8, 17, 0, tzinfo=UTC)  # already Monday 01:00 in Beijing
    assert d.due_at(late_sunday_utc, "misconduct") == dt.datetime(2026, 3, 12, 16, 0, tzinfo=UTC)  # end of Thu
    assert d.due_at(friday, "unheard-of") == d.due_at(friday, None)
    assert d.due_at(friday, None) == dt.datetime(2026, 3, 27, 16, 0, tzinfo=UTC)  # 15 working days: 3 weeks on


def test_holidays_and_makeup_days_move_the_deadline(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text('default = 1\nholidays = ["2026-03-09"]\nworkdays = ["2026-03-07"]\n[days]\nslow = 2\n')
    d = Deadlines.load(path)
    friday = dt.datetime(2026, 3, 6, 2, 0, tzinfo=UTC)
    assert d.due_at(friday, None) == dt.datetime(2026, 3, 7, 16, 0, tzinfo=UTC)  # Saturday is a make-up day
    assert d.due_at(friday, "slow") == dt.datetime(2026, 3, 10, 16, 0, tzinfo=UTC)  # Monday is a holiday


def test_bundled_deadlines_file_and_bad_files(tmp_path):
    d = Deadlines.load()
    assert d.days_for("misconduct") == 3 and d.days_for("other") == 15
    bad = tmp_path / "bad.toml"
    bad.write_text("[days]\nslow = 'soon'\n")
    with pytest.raises(Exception, match="whole numbers"):
        Deadlines.load(bad)
    with pytest.raises(Exception, match="not found"):
        Deadlines.load(tmp_path / "missing.toml")


def test_review_recomputes_the_deadline_for_the_final_category(store, model):
    [letter] = add(store, model, [OTHER], received_at=dt.datetime(2026, 3, 6, 2, 0, tzinfo=UTC))
    done = store.review(letter.id, version=1, category="misconduct", unit="medins", by="ann")
    assert done.due_at == dt.datetime(2026, 3, 11, 16, 0, tzinfo=UTC)
    assert not done.overdue  # reviewed letters wait for no one


# -- retention, export, statistics ---------------------------------------------------------------------------
def test_purge_erases_old_texts_and_records_it(db_url, model):
    s = open_store(db_url, retention_days=30)
    old, new = add(s, model, [LETTER], received_at=at(31))[0], add(s, model, [OTHER])[0]
    s.review(old.id, version=1, category="slow", unit="police", by="ann", note="已电话联系")
    assert s.purge() == 1 and s.purge() == 0
    gone = s.get(old.id)
    assert gone.text is None and gone.evidence == [] and gone.review.note == ""
    assert s.get(new.id).text == OTHER
    [event] = s.events(kind="purge")
    assert event.letter_id == old.id and event.payload == {"retention_days": 30}
    with s.engine.connect() as conn:
        assert conn.execute(sql("SELECT minhash FROM letters WHERE id=:i"), {"i": old.id}).scalar() is None
    buf = __import__("io").StringIO()
    assert write_corrections(s.reviewed(), buf) == (0, 1)  # nothing to learn from a purged letter
    s.close()


def test_reviewed_letters_export_with_final_labels(store, model):
    a, b, _ = add(store, model, [OTHER, THIRD, LETTER])
    store.review(a.id, version=1, category="misconduct", unit="urban", by="ann")
    store.review(b.id, version=1, category=b.category, unit=b.unit, by="bob")
    buf = __import__("io").StringIO()
    assert write_corrections(store.reviewed(), buf) == (2, 0)
    rows = list(csv.DictReader(__import__("io").StringIO(buf.getvalue())))
    assert tuple(rows[0]) == COLUMNS
    assert [(r["id"], r["category"], r["unit"], r["reviewed_by"]) for r in rows] == [
        (str(a.id), "misconduct", "urban", "ann"), (str(b.id), b.category, b.unit, "bob")]
    assert rows[0]["model_category"] == a.category and rows[0]["text"] == OTHER
    assert [x.id for x in store.reviewed(since=at(-1))] == []


def test_record_event_for_things_outside_letters(store):
    e = store.record_event("promotion", {"promoted": True, "heads": {"category": 0.01}}, by="admin")
    [back] = store.events(kind="promotion")
    assert back.payload == e.payload and back.letter_id is None and back.by == "admin"


# -- command line ---------------------------------------------------------------------------------------------
def triage_cli(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "triage", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=300, check=False)


def test_db_upgrade_and_current_commands(db_url, capsys):
    from triage.cli import main

    assert main(["db", "current", "--db", db_url]) == 0 and "empty" in capsys.readouterr().out
    assert main(["db", "upgrade", "--db", db_url]) == 0
    assert f"-> {HEAD_REVISION}" in capsys.readouterr().out
    assert main(["db", "current", "--db", db_url]) == 0 and "up to date" in capsys.readouterr().out
    open_store(db_url).close()  # what upgrade made, the store opens
    assert main(["db", "upgrade", "--db", "postgresql://nobody:pw@127.0.0.1:1/none"]) == 1
    err = capsys.readouterr().err
    assert "Cannot open the database" in err and "pw" not in err and "Traceback" not in err


def test_default_database_is_triage_db_in_the_working_directory(tmp_path, monkeypatch, capsys):
    from triage.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRIAGE_DB_URL", raising=False)
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "triage.db").exists()


def test_db_purge_command_needs_a_period_and_purges(tmp_path, model, monkeypatch, capsys):
    from triage.cli import main

    db = f"sqlite:///{tmp_path / 'p.db'}"
    s = open_store(db)
    add(s, model, [OTHER], received_at=at(10))
    s.close()
    monkeypatch.delenv("TRIAGE_RETENTION_DAYS", raising=False)
    assert main(["db", "purge", "--db", db]) == 2
    assert main(["db", "purge", "--db", db, "--days", "7"]) == 0 and "purged the texts of 1" in capsys.readouterr().out


@pytest.mark.slow
def test_exported_corrections_train_a_model(tmp_path, model, tiny_csv):
    db = f"sqlite:///{tmp_path / 'desk.db'}"
    s = open_store(db)
    with open(tiny_csv, encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f)][:12]
    for letter in add(s, model, texts):
        s.review(letter.id, version=1, category="misconduct", unit="police", by="ann")
    s.close()
    out = tmp_path / "corrections.csv"
    r = triage_cli("review", "export", "-o", str(out), "--db", db)
    assert r.returncode == 0 and "wrote 12" in r.stderr, r.stderr
    r = triage_cli("train", "--data", str(tiny_csv), "--data", str(out), "--out", str(tmp_path / "m"), "--cv", "0")
    assert r.returncode == 0, r.stderr
    from triage import load_model

    assert load_model(tmp_path / "m").manifest["training_data"]["rows"] == 36 + 12


# -- a writer killed mid-write --------------------------------------------------------------------------------
WRITER = textwrap.dedent("""
    import sys, itertools
    from triage import load_model
    from triage.store import open_store
    model = load_model(sys.argv[2])
    store = open_store(sys.argv[1])
    base = ["县政务中心窗口办事要跑五六趟，材料一次说不清楚", "城管执法队员在菜市场门口乱罚款，态度恶劣"]
    preds = model.classify_many(base * 4)
    sha = model.manifest["artifact"]["sha256"]
    for batch in itertools.count():
        items = [{"text": f"第{batch}批第{k}封：" + base[k % 2], "source": "batch"} for k in range(8)]
        print("writing", batch, flush=True)
        ids = [x.id for x in store.add(items, preds, sha)]
        print("committed", batch, *ids, flush=True)
""")


@pytest.mark.parametrize(("kill_after", "delay"), [(3, 0.0), (9, 0.003), (17, 0.006), (25, 0.009), (40, 0.012)])
def test_a_killed_writer_loses_no_committed_letter_and_leaves_no_half_written_one(tmp_path, trained_dir,
                                                                                  kill_after, delay):
    """SIGKILL lands ``delay`` s after the writer starts a batch of 8 (one ``add``, ~8-12 ms here: the delays
    straddle its transaction and commit, measured); the batch must then be whole or absent."""
    db = tmp_path / "killed.db"
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), f"sqlite:///{db}", str(trained_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    committed: dict[int, list[int]] = {}
    for line in proc.stdout:
        what, batch, *ids = line.split()
        if what == "committed":
            committed[int(batch)] = [int(i) for i in ids]
        elif len(committed) >= kill_after:  # "writing": the next batch's add has begun
            break
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert committed, proc.stderr.read()

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = {r[0]: r for r in conn.execute(
        "SELECT id, text, category_score, status, due_at, minhash, prediction, version FROM letters")}
    intake = {r[0] for r in conn.execute("SELECT letter_id FROM events WHERE kind='intake'")}
    for ids in committed.values():
        assert set(ids) <= set(rows), "a committed letter is missing"
    for lid, row in rows.items():  # every stored letter is whole, with its audit event
        assert row[1] and row[2] is not None and row[3] and row[4] and row[5] and row[6] and row[7] == 1
        assert lid in intake
    batches = {}
    for lid, row in rows.items():
        batches.setdefault(row[1].split("封")[0].split("批")[0], []).append(lid)
    assert all(len(v) == 8 for v in batches.values()), "a batch was stored in part"
    conn.close()
    s = open_store(f"sqlite:///{db}")  # and the store opens and goes on
    assert s.stats()["total"] == len(rows)
    s.close()
