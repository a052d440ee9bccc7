"""The web service: every route, every error code, auth on and off, a broken model (tests mirror service/)."""
from __future__ import annotations

import json
import logging
import shutil
import sys

import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from service.deps import get_model
from service.main import create_app

LETTER = "东坝派出所户籍窗口下午三点就没人了，等了一下午也没办成。电话13812345678"
KEY = "k" * 24


@pytest.fixture(scope="module")
def app(trained_dir):
    return create_app(Settings(model_dir=trained_dir))


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


def make_client(trained_dir, **settings) -> TestClient:
    return TestClient(create_app(Settings(model_dir=trained_dir, **settings)))


def assert_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code
    assert body["message_zh"] and body["message_en"] and body["message"]
    assert body["request_id"] == resp.headers["x-request-id"]
    return body


# -- health and page ---------------------------------------------------------------------------------------
def test_healthz_and_readyz(client, trained_dir):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    manifest = json.loads((trained_dir / "manifest.json").read_text(encoding="utf-8"))
    assert r.json()["model"] == {"name": manifest["name"], "sha256": manifest["artifact"]["sha256"][:12]}


def test_page_and_static_assets(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "粘贴信件" in r.text and "上传文件" in r.text
    assert "http" not in r.text.replace('href="/docs"', "")  # nothing from a CDN
    for asset in ("app.js", "style.css"):
        assert client.get(f"/static/{asset}").status_code == 200


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json()
    for path in ("/v1/classify", "/v1/classify/batch", "/v1/categories", "/v1/units", "/v1/model",
                 "/v1/files/label", "/healthz", "/readyz"):
        assert path in spec["paths"]
    assert client.get("/docs").status_code == 200


# -- classify ----------------------------------------------------------------------------------------------
def test_classify_returns_library_result_model_and_request_id(client, model):
    r = client.post("/v1/classify", json={"text": LETTER, "top_k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = model.classify_many([LETTER], top_k=3)[0].to_dict()
    for key, value in expected.items():
        assert body[key] == value, key
    assert body["unit"] == "police" and body["unit_source"] == "mention"
    assert body["request_id"] == r.headers["x-request-id"]
    assert len(body["model"]["sha256"]) == 12
    for ev in body["evidence"]:
        assert LETTER[ev["start"]:ev["end"]] == ev["term"]


def test_classify_top_k_and_request_id_passthrough(client):
    r = client.post("/v1/classify", json={"text": LETTER, "top_k": 1}, headers={"X-Request-ID": "desk-7.abc"})
    assert r.json()["alternatives"] == []
    assert r.json()["request_id"] == "desk-7.abc" == r.headers["x-request-id"]
    r = client.post("/v1/classify", json={"text": LETTER}, headers={"X-Request-ID": "bad id\twith spaces"})
    assert r.headers["x-request-id"] != "bad id\twith spaces"


@pytest.mark.parametrize("text", ["", "   ", "\n\t \u200b"])
def test_empty_text_is_422(client, text):
    body = assert_error(client.post("/v1/classify", json={"text": text}), 422, "empty_text")
    assert "空" in body["message_zh"] and "empty" in body["message_en"]


@pytest.mark.parametrize(
    "payload",
    [{"text": 5}, {"text": None}, {"text": ["a"]}, {}, {"txt": LETTER}, {"text": LETTER, "top_k": 0},
     {"text": LETTER, "top_k": "three"}, {"text": LETTER, "top_k": "3"}, {"text": LETTER, "top_k": True}, [LETTER]],
)
def test_wrong_shapes_are_422_without_echoing_input(client, payload):
    body = assert_error(client.post("/v1/classify", json=payload), 422, "invalid_request")
    assert body["details"] and all(set(d) == {"loc", "msg", "type"} for d in body["details"])
    assert LETTER not in json.dumps(body, ensure_ascii=False)


@pytest.mark.parametrize("raw", [b'{"text": "abc', '{"text": "café"}'.encode("latin-1"), b"\xff\xfe{", b""])
def test_malformed_or_undecodable_body_is_422(client, raw):
    r = client.post("/v1/classify", content=raw, headers={"Content-Type": "application/json"})
    assert_error(r, 422, "invalid_request")


def test_error_responses_are_documented(client):
    spec = client.get("/openapi.json").json()
    for path in ("/v1/classify", "/v1/classify/batch", "/v1/units"):
        responses = next(iter(spec["paths"][path].values()))["responses"]
        assert {"401", "413", "422", "503"} <= set(responses), path
        assert responses["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")


def test_text_over_cap_is_413(trained_dir):
    with make_client(trained_dir, max_text_chars=30) as c:
        body = assert_error(c.post("/v1/classify", json={"text": "窗口没人" * 8}), 413, "text_too_long")
        assert "32" in body["message_en"] and "30" in body["message_en"]
        assert c.post("/v1/classify", json={"text": "窗口没人" * 7}).status_code == 200


def test_default_cap_is_20000_chars(client):
    assert_error(client.post("/v1/classify", json={"text": "窗" * 20_001}), 413, "text_too_long")


def test_body_over_cap_is_413(trained_dir):
    with make_client(trained_dir, max_body_bytes=2048) as c:
        big = {"text": "窗口没人" * 300}
        assert_error(c.post("/v1/classify", json=big), 413, "body_too_large")

        def chunks():  # no Content-Length: the cap holds on the stream itself
            yield b'{"text": "'
            for _ in range(100):
                yield "窗口没人".encode() * 10
            yield b'"}'

        r = c.post("/v1/classify", content=chunks(), headers={"Content-Type": "application/json"})
        assert_error(r, 413, "body_too_large")


def test_thresholds_override_marks_review(trained_dir):
    with make_client(trained_dir, thresholds={"category": 1.0}) as c:
        body = c.post("/v1/classify", json={"text": LETTER}).json()
        assert body["needs_review"] is True and "category_low_confidence" in body["review_reasons"]
        assert c.get("/v1/model").json()["thresholds"]["category"] == 1.0


# -- batch -------------------------------------------------------------------------------------------------
def test_batch_keeps_order_and_ids_and_isolates_bad_items(client, model):
    items = [{"id": "a", "text": LETTER}, {"id": 2, "text": "  "}, {"id": "c", "text": "医保报销材料交了四个月钱还没到账"}]
    r = client.post("/v1/classify/batch", json={"items": items})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [it["id"] for it in body["items"]] == ["a", 2, "c"]
    assert body["errors"] == 1
    assert body["items"][1]["result"] is None and body["items"][1]["error"]["code"] == "empty_text"
    single = model.classify_many([items[2]["text"]])[0].to_dict()
    assert body["items"][2]["result"]["category"] == single["category"]
    assert body["items"][0]["error"] is None and body["items"][0]["result"]["unit"] == "police"
    assert body["request_id"] == r.headers["x-request-id"]


def test_batch_item_over_text_cap_is_an_item_error(trained_dir):
    with make_client(trained_dir, max_text_chars=30) as c:
        body = c.post("/v1/classify/batch", json={"items": [{"id": 1, "text": "窗" * 31}, {"id": 2, "text": "窗口没人"}]}).json()
        assert body["items"][0]["error"]["code"] == "text_too_long"
        assert body["items"][1]["result"] is not None


def test_batch_over_item_cap_is_413(trained_dir):
    with make_client(trained_dir, max_batch_items=2) as c:
        items = [{"id": i, "text": LETTER} for i in range(3)]
        assert_error(c.post("/v1/classify/batch", json={"items": items}), 413, "batch_too_large")


@pytest.mark.parametrize("payload", [{"items": []}, {"items": [{"id": 1}]}, {"items": [{"text": LETTER}]},
                                     {"items": "abc"}])
def test_batch_wrong_shapes_are_422(client, payload):
    assert_error(client.post("/v1/classify/batch", json=payload), 422, "invalid_request")


# -- meta --------------------------------------------------------------------------------------------------
def test_categories(client, model):
    cats = client.get("/v1/categories").json()
    by_id = {c["id"]: c for c in cats}
    assert by_id["slow"]["char"] == "慢" and by_id["slow"]["name"] == "工作拖拉"
    assert {c["id"] for c in cats if c["trained"]} == set(model.category_labels)


def test_units(client, model):
    units = client.get("/v1/units").json()
    assert [u["id"] for u in units] == model.registry.ids
    police = next(u for u in units if u["id"] == "police")
    assert police["name"] == "县公安局" and "派出所" in police["aliases"]


def test_model_manifest(client, model):
    body = client.get("/v1/model").json()
    assert body["manifest"]["artifact"]["sha256"].startswith(body["sha256"])
    assert body["manifest"]["labels"] == model.manifest["labels"]
    assert set(body["thresholds"]) == {"category", "unit"}


# -- routing errors ----------------------------------------------------------------------------------------
def test_unknown_route_is_404(client):
    assert_error(client.get("/v2/classify"), 404, "not_found")
    assert_error(client.get("/static/nothing.js"), 404, "not_found")


def test_wrong_method_is_405(client):
    assert_error(client.get("/v1/classify"), 405, "method_not_allowed")


def test_unexpected_failure_is_500_without_details(trained_dir):
    app = create_app(Settings(model_dir=trained_dir))

    class Broken:
        manifest: dict = {}

        def classify_many(self, *a, **k):
            raise RuntimeError("boom")

    app.dependency_overrides[get_model] = lambda: Broken()
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/classify", json={"text": LETTER})
    assert r.status_code == 500
    assert r.json()["code"] == "internal_error" and "boom" not in r.text


# -- auth --------------------------------------------------------------------------------------------------
def test_auth_off_by_default(client):
    assert client.get("/v1/categories").status_code == 200


def test_auth_on(trained_dir):
    with make_client(trained_dir, api_keys=[KEY, "z" * 20]) as c:
        r = c.post("/v1/classify", json={"text": LETTER})
        assert_error(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"
        for header in (f"Bearer {'x' * 24}", f"Basic {KEY}", KEY, f"Bearer {KEY[:-1]}"):
            assert_error(c.get("/v1/units", headers={"Authorization": header}), 401, "unauthorized")
        ok = {"Authorization": f"Bearer {KEY}"}
        assert c.post("/v1/classify", json={"text": LETTER}, headers=ok).status_code == 200
        assert c.get("/v1/model", headers={"Authorization": f"bearer {'z' * 20}"}).status_code == 200
        # health, readiness and the page stay open
        for path in ("/healthz", "/readyz", "/", "/static/app.js", "/openapi.json"):
            assert c.get(path).status_code == 200, path


def test_settings_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TRIAGE_API_KEYS", f"{KEY}, {'q' * 16}")
    monkeypatch.setenv("TRIAGE_CORS_ORIGINS", "http://desk.local,http://box.local")
    monkeypatch.setenv("TRIAGE_THRESHOLDS", '{"unit": 0.9}')
    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("TRIAGE_MAX_TEXT_CHARS", "5000")
    s = Settings(_env_file=None)
    assert [k.get_secret_value() for k in s.api_keys] == [KEY, "q" * 16]
    assert KEY not in repr(s)
    assert s.cors_origins == ["http://desk.local", "http://box.local"]
    assert s.thresholds == {"unit": 0.9} and s.model_dir == tmp_path and s.max_text_chars == 5000


@pytest.mark.parametrize("bad", [{"api_keys": ["tiny-key-1"]}, {"thresholds": {"category": 1.5}},
                                 {"thresholds": {"topic": 0.5}}, {"max_text_chars": 0}])
def test_settings_refuse_unsafe_values(bad):
    with pytest.raises(ValueError) as e:
        Settings(_env_file=None, **bad)
    assert "tiny-key-1" not in str(e.value)  # a rejected key is never echoed


def test_cors(trained_dir):
    with make_client(trained_dir, cors_origins=["http://desk.local"]) as c:
        r = c.options("/v1/classify", headers={"Origin": "http://desk.local", "Access-Control-Request-Method": "POST"})
        assert r.headers["access-control-allow-origin"] == "http://desk.local"
        r = c.options("/v1/classify", headers={"Origin": "http://evil.local", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in r.headers


# -- a broken model ----------------------------------------------------------------------------------------
@pytest.fixture(params=["missing", "tampered", "bad_manifest"])
def broken_dir(request, trained_dir, tmp_path):
    d = tmp_path / "broken"
    if request.param == "missing":
        return d
    shutil.copytree(trained_dir, d)
    if request.param == "tampered":
        with open(d / "arrays" / "text_weights.npy", "ab") as f:
            f.write(b"x")
    else:
        (d / "manifest.json").write_text("{not json", encoding="utf-8")
    return d


def test_broken_model_dir_still_starts_and_says_why(broken_dir):
    with TestClient(create_app(Settings(model_dir=broken_dir))) as c:
        assert c.get("/healthz").status_code == 200
        body = assert_error(c.get("/readyz"), 503, "model_not_loaded")
        assert "Model" in body["message_en"] and str(broken_dir.name) in body["message_en"]
        assert_error(c.post("/v1/classify", json={"text": LETTER}), 503, "model_not_loaded")
        assert_error(c.get("/v1/categories"), 503, "model_not_loaded")
        assert c.get("/").status_code == 200


# -- upload ------------------------------------------------------------------------------------------------
def test_upload_without_batch_module_is_501(client, monkeypatch):
    monkeypatch.setitem(sys.modules, "triage.batch", None)  # makes the import fail
    r = client.post("/v1/files/label", files={"file": ("letters.csv", "text\n窗口没人\n".encode())})
    assert_error(r, 501, "batch_unavailable")


def test_upload_labels_a_csv(client):
    import io

    import pandas as pd

    csv = "id,text\n1,东坝派出所户籍窗口没人\n2,医保报销材料交了四个月钱还没到账\n".encode()
    r = client.post("/v1/files/label", files={"file": ("来信.csv", csv)}, data={"text_col": "text", "id_col": "id"})
    assert r.status_code == 200, r.text
    assert "_labelled.csv" in r.headers["content-disposition"]
    summary = json.loads(r.headers["x-triage-summary"])
    assert summary["rows"] == 2
    out = pd.read_csv(io.BytesIO(r.content), dtype=str)
    assert len(out) == 2 and "category" in out.columns
    assert out.loc[out["id"] == "1", "unit"].item() == "police"


def test_upload_xlsx_with_two_text_columns(client):
    import io

    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"title": ["户口迁移"], "body": ["东坝派出所跑了五趟还没办完"]}).to_excel(buf, index=False)
    r = client.post("/v1/files/label", files={"file": ("letters.xlsx", buf.getvalue())}, data={"text_col": "title, body"})
    assert r.status_code == 200, r.text
    out = pd.read_excel(io.BytesIO(r.content))
    assert out["unit"].tolist() == ["police"]


def test_upload_missing_text_column_is_422(client):
    r = client.post("/v1/files/label", files={"file": ("a.csv", "body\n窗口没人\n".encode())})
    assert_error(r, 422, "invalid_file")


def test_upload_unsupported_type_is_422(client):
    r = client.post("/v1/files/label", files={"file": ("a.exe", b"MZ")})
    assert_error(r, 422, "unsupported_file")


def test_upload_over_cap_is_413(trained_dir):
    with make_client(trained_dir, max_upload_bytes=2048) as c:
        r = c.post("/v1/files/label", files={"file": ("a.csv", b"text\n" + "窗口没人\n".encode() * 400)})
        assert_error(r, 413, "body_too_large")


# -- logs --------------------------------------------------------------------------------------------------
def test_logs_have_request_id_and_outcome_never_text_or_key(trained_dir, caplog):
    caplog.set_level(logging.INFO, logger="service")
    with make_client(trained_dir, api_keys=[KEY]) as c:
        r = c.post("/v1/classify", json={"text": LETTER}, headers={"Authorization": f"Bearer {KEY}"})
        c.post("/v1/classify", json={"text": "窗" * 3}, headers={"Authorization": "Bearer wrong-key-wrong-key"})
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    rid = r.headers["x-request-id"]
    line = next(rec.getMessage() for rec in caplog.records if rid in rec.getMessage())
    assert "status=200" in line and f"category={r.json()['category']}" in line and "unit=police" in line
    assert "ms=" in line
    assert LETTER[:10] not in logged and "13812345678" not in logged and KEY not in logged
    assert "wrong-key" not in logged and "status=401" in logged


# -- CLI ---------------------------------------------------------------------------------------------------
def test_cli_serve_passes_options_to_uvicorn(monkeypatch, trained_dir):
    import uvicorn

    from triage.cli import main

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setenv("TRIAGE_MODEL_DIR", "")  # recorded, so the teardown restores the environment as it was
    monkeypatch.delenv("TRIAGE_MODEL_DIR")
    monkeypatch.setenv("TRIAGE_DB_URL", "")  # likewise: serve sets the desk's store for its workers
    monkeypatch.delenv("TRIAGE_DB_URL")
    assert main(["serve", "--port", "8123", "--workers", "2", "--model", str(trained_dir)]) == 0
    assert seen["app"] == "service.main:create_app" and seen["factory"] is True
    assert (seen["host"], seen["port"], seen["workers"]) == ("127.0.0.1", 8123, 2)
    import os

    assert os.environ["TRIAGE_MODEL_DIR"] == str(trained_dir)
    assert os.environ["TRIAGE_DB_URL"] == "sqlite:///triage.db"  # the desk's default: ./triage.db
    assert main(["serve", "--db", "postgresql://desk@dbhost/triage"]) == 0
    assert os.environ["TRIAGE_DB_URL"] == "postgresql://desk@dbhost/triage"
    assert "service" in seen["log_config"]["loggers"]


# -- micro-batching ----------------------------------------------------------------------------------------
def test_concurrent_requests_share_calls_but_get_their_own_results(model):
    import asyncio

    from service.inference import Classifier

    texts = [LETTER, "医保报销材料交了四个月钱还没到账", "窗口没人", "营业执照审批一个多月了还在走流程"] * 3
    calls = []
    real = model.classify_many

    class Counting:
        def classify_many(self, batch, **kw):
            calls.append(len(batch))
            return real(batch, **kw)

    counting = Counting()

    async def go():
        async with Classifier().running() as clf:
            jobs = [clf.classify(counting, [t], top_k=1 + i % 3, max_chars=20_000) for i, t in enumerate(texts)]
            bad = clf.classify(counting, ["窗" * 50], top_k=3, max_chars=10)  # refused alone, others unharmed
            return await asyncio.gather(*jobs, bad, return_exceptions=True)

    *results, bad = asyncio.run(go())
    from triage.errors import TextTooLongError

    [refused] = bad  # the model's per-text error comes back in the text's place
    assert isinstance(refused, TextTooLongError)
    assert max(calls) > 1  # some requests were classified together
    for i, (text, [pred]) in enumerate(zip(texts, results)):
        assert pred.to_dict() == real([text], top_k=1 + i % 3)[0].to_dict()
