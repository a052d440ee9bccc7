"""The review desk's HTTP API, the same suite on a SQLite file and on a real PostgreSQL server; then a real
uvicorn server: 50 concurrent intakes, SIGHUP reload under load, and its logs (tests mirror service/routes)."""
from __future__ import annotations

import asyncio
import csv
import io
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from service.main import create_app

ROOT = Path(__file__).resolve().parent.parent
PHONE = "13987654321"
PHRASE = "紫藤巷十七号的老周"  # distinctive: must never reach a log
LETTER = f"东坝派出所户籍窗口下午三点就没人了，{PHRASE}等了一下午也没办成。电话{PHONE}"
OTHER = "医保报销材料交了四个月钱还没到账，打电话问医保局也没人说清楚什么时候能办好"
DESK, VIEWER, ADMIN, BARE = "d" * 24, "v" * 24, "a" * 24, "b" * 24
KEYS = [f"desk:ann:{DESK}", f"viewer:vic:{VIEWER}", f"admin:root:{ADMIN}", BARE]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def client(trained_dir, db_url):
    app = create_app(Settings(model_dir=trained_dir, db_url=db_url, api_keys=KEYS))
    with TestClient(app) as c:
        yield c


def intake(c, text=OTHER, key=DESK, **extra):
    r = c.post("/v1/letters", json={"text": text, **extra}, headers=auth(key))
    assert r.status_code == 201, r.text
    return r.json()


def assert_error(r, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code and body["message_zh"] and body["message_en"]


# -- intake -------------------------------------------------------------------------------------------------
def test_intake_classifies_stores_and_returns_the_letter(client, model):
    body = intake(client, LETTER, source="hotline")
    pred = model.classify_many([LETTER], top_k=3)[0].to_dict()
    assert isinstance(body["id"], int) and body["source"] == "hotline" and body["version"] == 1
    for key in ("category", "unit", "category_score", "unit_score", "unit_source", "alternatives",
                "unit_alternatives", "evidence", "review_reasons"):
        assert body[key] == pred[key], key
    assert body["category_name"] == pred["name"] and body["char"] == pred["char"]
    assert body["status"] == ("needs_review" if pred["needs_review"] else "routed")
    assert PHONE not in body["text"] and PHRASE in body["text"]
    assert body["model_sha"] == model.manifest["artifact"]["sha256"]
    assert body["due_at"] > body["received_at"] and body["overdue"] is False and body["review"] is None
    assert client.get(f"/v1/letters/{body['id']}", headers=auth(VIEWER)).json() == body


def test_batch_intake_keeps_the_good_letters_and_reports_the_bad(client):
    r = client.post("/v1/letters", headers=auth(DESK), json={"items": [
        {"text": OTHER, "source": "box"}, {"text": "   "}, {"text": LETTER, "received_at": "2026-01-05T09:00:00+08:00"}]})
    assert r.status_code == 201, r.text
    a, bad, b = r.json()["items"]
    assert a["source"] == "box" and bad["error"]["code"] == "empty_text" and "id" not in bad
    assert b["received_at"] == "2026-01-05T01:00:00+00:00"
    assert client.get("/v1/desk/stats", headers=auth(VIEWER)).json()["total"] == 2


def test_bad_intake_gets_clear_errors_and_stores_nothing(client):
    assert_error(client.post("/v1/letters", json={"text": "  "}, headers=auth(DESK)), 422, "empty_text")
    assert_error(client.post("/v1/letters", json={"text": OTHER, "source": "fax"}, headers=auth(DESK)),
                 422, "invalid_request")
    assert_error(client.post("/v1/letters", json={"text": 5}, headers=auth(DESK)), 422, "invalid_request")
    assert_error(client.post("/v1/letters", json={"text": OTHER, "received_at": "2999-01-01T00:00:00Z"},
                             headers=auth(DESK)), 422, "invalid_received_at")
    assert_error(client.post("/v1/letters", json={"items": []}, headers=auth(DESK)), 422, "invalid_request")
    assert client.get("/v1/desk/stats", headers=auth(VIEWER)).json()["total"] == 0


# -- roles ----------------------------------------------------------------------------------------------------
def test_roles_decide_who_may_do_what(client):
    letter = intake(client)
    review = {"category": "slow", "unit": "medins", "version": 1}
    for path, body in (("/v1/letters", {"text": OTHER}), (f"/v1/letters/{letter['id']}/review", review)):
        assert_error(client.post(path, json=body, headers=auth(VIEWER)), 403, "forbidden")
    assert_error(client.get("/v1/letters/export", headers=auth(DESK)), 403, "forbidden")
    assert_error(client.post("/v1/admin/reload", headers=auth(DESK)), 403, "forbidden")
    assert client.get("/v1/letters", headers=auth(VIEWER)).status_code == 200
    assert_error(client.get("/v1/letters"), 401, "unauthorized")
    assert_error(client.get("/v1/letters", headers=auth("x" * 24)), 401, "unauthorized")
    who = {k: client.get("/v1/whoami", headers=auth(k)).json() for k in (DESK, VIEWER, ADMIN, BARE)}
    assert who == {DESK: {"name": "ann", "role": "desk"}, VIEWER: {"name": "vic", "role": "viewer"},
                   ADMIN: {"name": "root", "role": "admin"}, BARE: {"name": "admin", "role": "admin"}}
    assert client.post("/v1/classify", json={"text": OTHER}, headers=auth(VIEWER)).status_code == 200
    assert client.get("/v1/letters/export", headers=auth(BARE)).status_code == 200  # a bare key stays admin


def test_open_desk_without_keys_acts_as_local_admin(trained_dir, db_url):
    with TestClient(create_app(Settings(model_dir=trained_dir, db_url=db_url))) as c:
        assert c.get("/v1/whoami").json() == {"name": "local", "role": "admin"}
        letter = intake(c, key="")
        r = c.post(f"/v1/letters/{letter['id']}/review", json={"category": "slow", "unit": "medins", "version": 1})
        assert r.json()["review"]["by"] == "local"


def test_malformed_role_keys_are_refused_at_start():
    with pytest.raises(ValueError, match="role:name:key"):
        Settings(api_keys=["boss:ann:" + "k" * 24])
    with pytest.raises(ValueError, match="shorter"):
        Settings(api_keys=["desk:ann:short"])


# -- review ---------------------------------------------------------------------------------------------------
def test_review_leaves_the_queue_and_a_second_review_of_the_same_version_conflicts(client):
    letters = [intake(client, t) for t in (OTHER, LETTER)]
    with client.app.state.store.engine.begin() as conn:  # both doubtful, whatever the tiny model said
        from sqlalchemy import text as sql

        conn.execute(sql("UPDATE letters SET status='needs_review'"))
    queue = client.get("/v1/letters?status=needs_review", headers=auth(VIEWER)).json()
    assert queue["total"] == 2 and {x["id"] for x in queue["items"]} == {x["id"] for x in letters}
    target = letters[0]
    body = {"category": "misconduct", "unit": "police", "note": f"回电{PHONE}", "version": 1}
    r = client.post(f"/v1/letters/{target['id']}/review", json=body, headers=auth(DESK))
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "reviewed" and done["version"] == 2
    assert done["review"]["by"] == "ann" and done["review"]["corrected"] is True and PHONE not in done["review"]["note"]
    assert_error(client.post(f"/v1/letters/{target['id']}/review", json={**body, "category": "slow"},
                             headers=auth(ADMIN)), 409, "review_conflict")
    assert client.get(f"/v1/letters/{target['id']}", headers=auth(VIEWER)).json()["review"]["category"] == "misconduct"
    queue = client.get("/v1/letters?status=needs_review", headers=auth(VIEWER)).json()
    assert [x["id"] for x in queue["items"]] == [letters[1]["id"]]
    reviewed = client.get("/v1/letters?status=reviewed", headers=auth(VIEWER)).json()
    assert [x["id"] for x in reviewed["items"]] == [target["id"]]
    stats = client.get("/v1/desk/stats", headers=auth(VIEWER)).json()
    assert stats["reviewed"] == 1 and stats["corrected"] == 1 and stats["by_status"]["needs_review"] == 1


def test_review_refuses_unknown_labels_and_letters(client):
    letter = intake(client)
    for body in ({"category": "nonsense", "unit": "police", "version": 1},
                 {"category": "slow", "unit": "nowhere", "version": 1}):
        assert_error(client.post(f"/v1/letters/{letter['id']}/review", json=body, headers=auth(DESK)),
                     422, "unknown_label")
    assert_error(client.post("/v1/letters/999/review", json={"category": "slow", "unit": "police", "version": 1},
                             headers=auth(DESK)), 404, "letter_not_found")
    assert_error(client.get("/v1/letters/999", headers=auth(DESK)), 404, "letter_not_found")
    assert client.get(f"/v1/letters/{letter['id']}", headers=auth(DESK)).json()["version"] == 1


def test_export_is_a_training_csv_of_reviewed_letters(client):
    a, _ = intake(client, OTHER), intake(client, LETTER)
    client.post(f"/v1/letters/{a['id']}/review", json={"category": "lazy", "unit": "medins", "version": 1},
                headers=auth(DESK))
    r = client.get("/v1/letters/export", headers=auth(ADMIN))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == ["id", "text", "category", "unit", "model_category", "model_unit", "reviewed_by",
                             "reviewed_at"]
    assert [(r["id"], r["text"], r["category"], r["unit"], r["reviewed_by"]) for r in rows] == [
        (str(a["id"]), OTHER, "lazy", "medins", "ann")]


def test_listing_pages_and_filters(client):
    ids = [intake(client, f"{OTHER}（第{k}次）")["id"] for k in range(5)]
    page = client.get("/v1/letters?limit=2&offset=1", headers=auth(VIEWER)).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [x["id"] for x in page["items"]] == ids[::-1][1:3]  # newest first
    assert client.get("/v1/letters?since=2999-01-01T00:00:00Z", headers=auth(VIEWER)).json()["total"] == 0
    assert_error(client.get("/v1/letters?status=lost", headers=auth(VIEWER)), 422, "invalid_request")
    assert_error(client.get("/v1/letters?limit=0", headers=auth(VIEWER)), 422, "invalid_request")
    repeats = [x for x in client.get("/v1/letters", headers=auth(VIEWER)).json()["items"] if x["repeat_of"]]
    assert {x["repeat_of"] for x in repeats} == {ids[0]}  # the same letter again: one case


def test_desk_routes_say_when_there_is_no_store(trained_dir):
    with TestClient(create_app(Settings(model_dir=trained_dir))) as c:
        assert_error(c.get("/v1/letters"), 503, "store_unavailable")
        assert_error(c.post("/v1/letters", json={"text": OTHER}), 503, "store_unavailable")
        assert c.post("/v1/classify", json={"text": OTHER}).status_code == 200  # classification goes on


def test_retention_purges_at_start_up(trained_dir, db_url):
    from triage.store import open_store

    s = open_store(db_url)
    model = __import__("triage").load_model(trained_dir)
    import datetime as dt

    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=100)
    [letter] = s.add([{"text": OTHER, "received_at": old}], model.classify_many([OTHER]), "sha")
    s.close()
    with TestClient(create_app(Settings(model_dir=trained_dir, db_url=db_url, retention_days=90))) as c:
        assert c.get(f"/v1/letters/{letter.id}").json()["text"] is None


def test_the_repeat_index_is_rebuilt_from_the_database_at_start_up(trained_dir, db_url, model, caplog):
    from triage.store import open_store

    s = open_store(db_url)
    s.add([OTHER, LETTER], model.classify_many([OTHER, LETTER]), "sha")
    s.close()
    caplog.set_level(logging.INFO, logger="service")
    with TestClient(create_app(Settings(model_dir=trained_dir, db_url=db_url))) as c:
        deadline = time.monotonic() + 20
        while "repeat index built" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "repeat index built: 2 letters" in caplog.text
        assert intake(c, OTHER + "！", key="")["repeat_of"] == 1


def test_reload_swaps_the_model_and_records_it(client):
    old = client.app.state.model
    r = client.post("/v1/admin/reload", headers=auth(ADMIN))
    assert r.status_code == 200, r.text
    assert client.app.state.model is not old and r.json()["sha256"] == old.manifest["artifact"]["sha256"]
    assert intake(client)["model_sha"] == r.json()["sha256"]
    [event] = client.app.state.store.events(kind="reload")
    assert event.by == "root" and event.payload["sha256"] == r.json()["sha256"]


def test_a_failed_reload_keeps_the_old_model(client, monkeypatch):
    old = client.app.state.model
    monkeypatch.setattr(client.app.state.settings, "model_dir", Path("/nonexistent/model"))
    assert_error(client.post("/v1/admin/reload", headers=auth(ADMIN)), 503, "reload_failed")
    assert client.app.state.model is old and intake(client)["id"]


def test_intakes_arriving_together_share_one_transaction(db_url, model):
    """Group commit: five requests queued at once reach the store in one ``add_groups`` call; a bad one fails
    alone."""
    from service.intake import IntakeWriter
    from triage.store import open_store

    store = open_store(db_url)
    calls: list[int] = []
    real = store.add_groups
    store.add_groups = lambda groups: (calls.append(len(groups)), real(groups))[1]
    texts = [f"{OTHER}（第{k}封）" for k in range(4)]
    preds = model.classify_many(texts)

    async def run():
        async with IntakeWriter().running() as writer:
            jobs = [writer.add(store, [{"text": t}], [p], "sha", f"clerk{k}") for k, (t, p) in enumerate(zip(texts, preds))]
            jobs.append(writer.add(store, [{"text": OTHER, "source": "fax"}], preds[:1], "sha", "bad"))
            return await asyncio.gather(*jobs, return_exceptions=True)

    results = asyncio.run(run())
    assert calls == [5]
    assert isinstance(results[-1], ValueError)
    assert [r[0].text for r in results[:-1]] == texts
    assert [e.by for e in store.events(kind="intake")] == [f"clerk{k}" for k in range(4)]
    store.close()


# -- privacy --------------------------------------------------------------------------------------------------
def test_no_letter_text_in_any_log(client, caplog):
    caplog.set_level(logging.DEBUG)
    letter = intake(client, LETTER)
    client.post("/v1/letters", json={"items": [{"text": LETTER}, {"text": " "}]}, headers=auth(DESK))
    client.post(f"/v1/letters/{letter['id']}/review", headers=auth(DESK),
                json={"category": "slow", "unit": "police", "note": f"{PHRASE} {PHONE}", "version": 1})
    client.post(f"/v1/letters/{letter['id']}/review", headers=auth(DESK),
                json={"category": "slow", "unit": "police", "note": PHRASE, "version": 1})  # 409
    client.get("/v1/letters?status=reviewed", headers=auth(VIEWER))
    client.get("/v1/letters/export", headers=auth(ADMIN))
    logged = "\n".join(r.getMessage() + " " + str(r.args) for r in caplog.records)
    assert "/v1/letters" in logged  # the access log ran, so the search is not vacuous
    assert PHONE not in logged and PHRASE not in logged and PHONE[-4:] + "等" not in logged


# -- a real server --------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(trained_dir, db_url: str, tmp_path, **env):
    port = _free_port()
    log = open(tmp_path / f"server-{port}.log", "w+")  # noqa: SIM115 - stop_server reads and closes it
    proc = subprocess.Popen(
        [sys.executable, "-m", "triage", "serve", "--port", str(port), "--model", str(trained_dir), "--db", db_url,
         "--log-level", "debug"],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "TRIAGE_API_KEYS": ",".join(KEYS), **env})
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / f"server-{port}.log").read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc, f"http://127.0.0.1:{port}", log
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def stop_server(proc, log) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.seek(0)
    text = log.read()
    log.close()
    return text


@pytest.mark.slow
def test_fifty_concurrent_intakes_on_sqlite_are_all_stored(trained_dir, tmp_path):
    import httpx

    db = tmp_path / "desk.db"
    proc, base, log = start_server(trained_dir, f"sqlite:///{db}", tmp_path)
    texts = [f"{LETTER}（第{k}封）" if k % 2 else f"{OTHER} 编号{k}" for k in range(50)]

    async def fire():
        async with httpx.AsyncClient(base_url=base, headers=auth(DESK), timeout=60) as c:
            return await asyncio.gather(*(c.post("/v1/letters", json={"text": t, "source": "web"}) for t in texts))

    try:
        responses = asyncio.run(fire())
    finally:
        output = stop_server(proc, log)
    assert [r.status_code for r in responses] == [201] * 50, [r.text for r in responses if r.status_code != 201]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 50
    import sqlite3

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert {r[0] for r in conn.execute("SELECT id FROM letters")} == ids
    assert conn.execute("SELECT count(*) FROM events WHERE kind='intake'").fetchone()[0] == 50
    conn.close()
    assert "POST /v1/letters status=201" in output  # the server's own log, debug level
    assert PHONE not in output and PHRASE not in output


@pytest.mark.slow
def test_sighup_reloads_the_model_without_dropping_a_request(trained_dir, tmp_path):
    import httpx

    db = tmp_path / "desk.db"
    proc, base, log = start_server(trained_dir, f"sqlite:///{db}", tmp_path)

    async def load(stop: asyncio.Event) -> list[int]:
        codes = []
        async with httpx.AsyncClient(base_url=base, headers=auth(DESK), timeout=60) as c:
            while not stop.is_set():
                batch = await asyncio.gather(*(c.post("/v1/classify", json={"text": OTHER}) for _ in range(4)),
                                             c.post("/v1/letters", json={"text": OTHER}))
                codes += [r.status_code for r in batch]
        return codes

    async def run() -> list[int]:
        stop = asyncio.Event()
        task = asyncio.create_task(load(stop))
        await asyncio.sleep(0.5)
        for _ in range(3):
            proc.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.7)
        stop.set()
        return await task

    try:
        codes = asyncio.run(run())
        assert proc.poll() is None  # SIGHUP did not end the server
    finally:
        output = stop_server(proc, log)
    assert codes and set(codes) <= {200, 201}, sorted(set(codes))
    assert output.count("model reloaded by SIGHUP") == 3, output[-3000:]
