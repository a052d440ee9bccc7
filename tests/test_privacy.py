"""Privacy: complaint text never reaches a log; phone and ID numbers are masked wherever text is shown;
API keys are compared in constant time and never logged.

The sentinel letter below carries words found nowhere else (蓝鲸咖啡馆, 紫藤巷) plus a mobile, a landline and an
ID-card number; every log record of every path is searched for them.
"""
from __future__ import annotations

import csv
import hmac
import json
import logging
import random
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.cli import main
from triage.text import mask_pii

MOBILE, LANDLINE, ID_CARD = "13812345678", "0731-84567890", "11010119900307123X"
SECRET_WORDS = ("蓝鲸咖啡馆", "紫藤巷")
LETTER = f"紫藤巷蓝鲸咖啡馆旁边的东坝派出所户籍窗口，办户口拖了半年没人管。我的电话{MOBILE}，座机{LANDLINE}，身份证{ID_CARD}。"
NEEDLES = (*SECRET_WORDS, MOBILE, "84567890", ID_CARD, "1234567", "19900307")
KEY = "test-key-" + "k" * 24
OTHER_KEY = "other-key-" + "o" * 24


def all_logged(records) -> str:
    """Everything a handler could write: formatted message, raw args, exception and stack text."""
    parts = []
    fmt = logging.Formatter()
    for r in records:
        parts.append(r.getMessage())
        parts.append(repr(r.args))
        if r.exc_info:
            parts.append(fmt.formatException(r.exc_info))
        if r.exc_text:
            parts.append(r.exc_text)
        if r.stack_info:
            parts.append(r.stack_info)
    return "\n".join(parts)


def assert_no_letter(text: str, where: str) -> None:
    for needle in NEEDLES:
        assert needle not in text, f"{needle!r} found in {where}"


# -- mask_pii --------------------------------------------------------------------------------------------------
MASKED = [
    # (input, masked) - mobiles
    ("13812345678", "138****5678"),
    ("+8613812345678", "+86138****5678"),
    ("+86 13812345678", "+86 138****5678"),
    ("+86 138 1234 5678", "+86 138 **** 5678"),
    ("+86-138-1234-5678", "+86-138-****-5678"),
    ("138-1234-5678", "138-****-5678"),
    ("138 1234 5678", "138 **** 5678"),
    ("电话19912345678请回电", "电话199****5678请回电"),
    # landlines
    ("0731-84567890", "0731-******90"),
    ("0731 84567890", "0731 ******90"),
    ("073184567890", "0731******90"),
    ("010-12345678", "010-******78"),
    ("座机0731-8456789。", "座机0731-*****89。"),
    ("(0731)84567890", "(0731)******90"),
    ("（０７３１）８４５６７８９０", "（０７３１）******９０"),
    # full-width digits (typed with a Chinese IME)
    ("１３８１２３４５６７８", "１３８****５６７８"),
    # ID cards
    ("110101199003071234", "110101********1234"),
    ("11010119900307123X", "110101********123X"),
    ("11010119900307123x", "110101********123x"),
    ("身份证号：440301198512250019。", "身份证号：440301********0019。"),
    # several in one letter
    (f"手机{MOBILE}身份证{ID_CARD}座机{LANDLINE}", "手机138****5678身份证110101********123X座机0731-******90"),
]


@pytest.mark.parametrize("text, expected", MASKED)
def test_mask_pii(text, expected):
    assert mask_pii(text) == expected
    assert len(mask_pii(text)) == len(text)  # one "*" per digit: offsets into the text stay valid


#: Formats the first version missed (found by this file; fixed).
MISSED = [
    pytest.param("电话１３８１２３４５６７８", "１３８１２３４５６７８", id="full-width-mobile"),
    pytest.param("＋８６１３８１２３４５６７８", "１３８１２３４５６７８", id="full-width-plus86"),
    pytest.param("身份证１１０１０１１９９００３０７１２３Ｘ", "１９９００３０７", id="full-width-id"),
    pytest.param("座机(0731)84567890", "84567890", id="parenthesised-area-code"),
    pytest.param("座机（0731）84567890", "84567890", id="full-width-parentheses"),
]


@pytest.mark.parametrize("text, secret", MISSED)
def test_mask_pii_full_width_and_parentheses(text, secret):
    assert secret not in mask_pii(text)


_DIGIT = st.sampled_from("0123456789")
_FILLER = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=8)


@st.composite
def pii(draw):
    """A mobile, landline or ID number in one of the formats people write, returned with its bare digits."""
    kind = draw(st.sampled_from(["mobile", "landline", "id"]))
    if kind == "mobile":
        d = "1" + draw(st.sampled_from("3456789")) + "".join(draw(_DIGIT) for _ in range(9))
        sep = draw(st.sampled_from(["", " ", "-"]))
        prefix = draw(st.sampled_from(["", "+86", "+86 ", "+86-", "86"]))
        return prefix + d[:3] + sep + d[3:7] + sep + d[7:], d
    if kind == "landline":
        area = "0" + "".join(draw(_DIGIT) for _ in range(draw(st.sampled_from([2, 3]))))
        local = draw(st.sampled_from("2345678")) + "".join(draw(_DIGIT) for _ in range(draw(st.sampled_from([6, 7]))))
        sep = draw(st.sampled_from(["", "-", " "]))
        return area + sep + local, local
    d = draw(st.sampled_from("123456789")) + "".join(draw(_DIGIT) for _ in range(16))
    d += draw(st.sampled_from("0123456789Xx"))
    return d, d


@settings(max_examples=200, deadline=None)
@given(before=_FILLER, number=pii(), after=_FILLER)
def test_mask_pii_hides_every_generated_number(before, number, after):
    shown, secret = number
    masked = mask_pii(before + shown + after)
    assert len(masked) == len(before + shown + after)
    digits = re.sub(r"[^0-9Xx]", "", masked)
    assert secret not in digits, (shown, masked)
    assert before in masked and after in masked  # the words around are kept


# -- the CLI's human output --------------------------------------------------------------------------------------
def test_cli_classify_output_masks_numbers(trained_dir, capsys):
    rc = main(["classify", "--model", str(trained_dir), f"东坝派出所户籍窗口拖了半年，电话{MOBILE}，身份证{ID_CARD}，座机{LANDLINE}"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "text: " in out and "138****5678" in out
    for secret in (MOBILE, ID_CARD, "1234567", "84567890"):
        assert secret not in out


@pytest.mark.parametrize("cut", [43, 46, 50, 53])
def test_cli_preview_masks_a_number_cut_at_60_chars(trained_dir, capsys, cut):
    id_card = "440301198512250019"
    text = "派" * cut + id_card + "，户籍窗口拖了半年"
    main(["classify", "--model", str(trained_dir), text])
    preview = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("text: "))
    shown = re.sub(r"[^0-9X]", "", preview)
    # only digits the masked full letter shows (the ID's first 6 and last 4) may appear, never the birth date
    assert shown in mask_pii(text).replace("*", "") and "1985" not in shown, preview
    # (the first version masked text[:60] after the cut and printed up to 17 digits of the ID)


def test_cli_errors_do_not_echo_text(trained_dir, capsys):
    rc = main(["classify", "--model", str(trained_dir), "字" * 100_001])
    err = capsys.readouterr().err
    assert rc == 1 and "字字" not in err and "100,001" in err


# -- logs of every CLI path -------------------------------------------------------------------------------------
@pytest.fixture
def letters_csv(tmp_path, tiny_csv) -> Path:
    """The tiny corpus with the sentinel letter (and an empty row) added, labelled."""
    rows = list(csv.DictReader(open(tiny_csv, encoding="utf-8")))
    rows.append({"text": LETTER, "category": "slow", "unit": "police"})
    rows.append({"text": "   ", "category": "slow", "unit": "police"})
    path = tmp_path / "letters.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["text", "category", "unit"])
        w.writeheader()
        w.writerows(rows)
    return path


def test_cli_paths_never_log_text(trained_dir, letters_csv, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    model = str(trained_dir)
    runs = [
        ["classify", "--model", model, LETTER],
        ["classify", "--model", model, "--json", LETTER],
        ["classify", "--model", model, "   "],
        ["evaluate", "--model", model, "--data", str(letters_csv)],
        ["evaluate", "--model", model, "--data", str(letters_csv), "--json"],
        ["train", "--data", str(letters_csv), "--out", str(tmp_path / "m"), "--cv", "0"],
        ["info", "--model", model],
    ]
    if (Path(__file__).parents[1] / "triage" / "batch.py").exists():
        runs.append(["batch", str(letters_csv), "-o", str(tmp_path / "out.csv"), "--model", model])
    for argv in runs:
        main(["-v", *argv])
        err = capsys.readouterr().err
        assert_no_letter(err, f"stderr of {argv[0]}")
    assert caplog.records  # something is logged, so the search is not vacuous
    assert_no_letter(all_logged(caplog.records), "the logs")


def test_batch_summary_shows_no_text(trained_dir, letters_csv, tmp_path, capsys):
    pytest.importorskip("triage.batch")
    main(["batch", str(letters_csv), "-o", str(tmp_path / "out.csv"), "--model", str(trained_dir)])
    out = capsys.readouterr().out
    assert "labelled" in out
    assert_no_letter(out, "the batch summary")


# -- the service ----------------------------------------------------------------------------------------------------
def _client(trained_dir, **kw):
    from fastapi.testclient import TestClient

    from service.config import Settings
    from service.main import create_app

    return TestClient(create_app(Settings(model_dir=trained_dir, **kw)), raise_server_exceptions=False)


def test_service_never_logs_text_or_keys(trained_dir, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    auth = {"Authorization": f"Bearer {KEY}"}
    with _client(trained_dir, api_keys=[KEY, OTHER_KEY], max_text_chars=500) as c:
        assert c.post("/v1/classify", json={"text": LETTER}, headers=auth).status_code == 200
        assert c.post("/v1/classify/batch", json={"items": [{"id": 1, "text": LETTER}, {"id": 2, "text": " "}]},
                      headers=auth).status_code == 200
        # errors: too long, empty, wrong shape, extra field, malformed JSON, wrong key, no key
        assert c.post("/v1/classify", json={"text": LETTER * 20}, headers=auth).status_code == 413
        assert c.post("/v1/classify", json={"text": LETTER, "extra": LETTER}, headers=auth).status_code == 422
        assert c.post("/v1/classify", json={"text": [LETTER]}, headers=auth).status_code == 422
        r = c.post("/v1/classify", content=('{"text": "' + LETTER).encode(), headers={**auth, "content-type": "application/json"})
        assert r.status_code == 422
        assert c.post("/v1/classify", json={"text": LETTER}, headers={"Authorization": f"Bearer {KEY}x"}).status_code == 401
        assert c.post("/v1/classify", json={"text": LETTER}, headers={"Authorization": f"Basic {KEY}"}).status_code == 401
        assert c.post("/v1/classify", json={"text": LETTER}).status_code == 401
        # an upload
        files = {"file": ("letters.csv", f"text\n{LETTER}\n".encode(), "text/csv")}
        assert c.post("/v1/files/label", files=files, headers=auth).status_code in (200, 501)
        # an unexpected failure inside the model
        model = c.app.state.model
        monkeypatch.setattr(model, "classify_many", lambda *a, **k: 1 / 0)
        assert c.post("/v1/classify", json={"text": LETTER}, headers=auth).status_code == 500
    logged = all_logged(caplog.records)
    assert "status=200" in logged and "status=401" in logged and "status=500" in logged
    assert_no_letter(logged, "the service logs")
    for key in (KEY, OTHER_KEY, KEY + "x"):
        assert key not in logged


def test_service_errors_do_not_echo_text(trained_dir):
    with _client(trained_dir, max_text_chars=500) as c:
        for body in ({"text": LETTER * 20}, {"text": LETTER, "extra": LETTER}, {"text": [LETTER]}, {"txt": LETTER}):
            r = c.post("/v1/classify", json=body)
            assert r.status_code in (413, 422)
            assert_no_letter(r.text, f"the error body for {list(body)}")


def test_settings_never_show_keys(trained_dir):
    from pydantic import ValidationError

    from service.config import Settings

    s = Settings(model_dir=trained_dir, api_keys=[KEY])
    assert KEY not in repr(s) and KEY not in str(s) and KEY not in s.model_dump_json()
    with pytest.raises(ValidationError) as info:
        Settings(api_keys=["short-secret"])
    assert "short-secret" not in str(info.value)


# -- API keys are compared in constant time -------------------------------------------------------------------------
@pytest.fixture
def compare_calls(monkeypatch) -> list[tuple[bytes, bytes]]:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    monkeypatch.setattr(secrets, "compare_digest", spy)
    return calls


@pytest.mark.parametrize("sent, status", [(KEY + "x", 401), ("x" * 40, 401), ("", 401), (KEY, 200), (OTHER_KEY, 200)])
def test_api_key_compared_with_compare_digest_against_every_key(trained_dir, compare_calls, sent, status):
    with _client(trained_dir, api_keys=[KEY, OTHER_KEY]) as c:
        compare_calls.clear()
        r = c.post("/v1/classify", json={"text": "户籍窗口拖了半年"}, headers={"Authorization": f"Bearer {sent}"})
    assert r.status_code == status
    if sent:
        # every configured key is compared (no early exit telling which came close), each by compare_digest
        compared = sorted(bytes(b) if isinstance(b, (bytes, bytearray)) else b.encode() for _, b in compare_calls)
        assert compared == sorted([KEY.encode(), OTHER_KEY.encode()])
    assert KEY not in r.text and OTHER_KEY not in r.text


def test_auth_code_has_no_plain_comparison():
    import inspect

    from service import deps

    src = inspect.getsource(deps.require_api_key)
    assert "compare_digest" in src
    assert not re.search(r"(given|credentials\.credentials|get_secret_value\(\)[^)]*)\s*(==|!=|\bin\b)", src), src


# -- the page ---------------------------------------------------------------------------------------------------
APP_JS = Path(__file__).parents[1] / "service" / "static" / "app.js"


def _page_mask(texts: list[str]) -> list[str]:
    """Run the page's own ``maskPii`` (extracted from app.js) in Node on ``texts``."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None or not APP_JS.exists():
        pytest.skip("needs node and service/static/app.js")
    js = APP_JS.read_text(encoding="utf-8")
    m = re.search(r"const PII_RULES.*?\nfunction maskPii\(text\) \{.*?\n\}\n", js, re.S)
    assert m, "maskPii not found in app.js"
    program = m.group(0) + f"\nprocess.stdout.write(JSON.stringify({json.dumps(texts)}.map(maskPii)));\n"
    out = subprocess.run([node, "-e", program], capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)


PAGE_CASES = [
    (MOBILE, "138****5678"), ("+86 138 1234 5678", "+86 138 **** 5678"), ("138-1234-5678", "138-****-5678"),
    (LANDLINE, "0731-******90"), ("0731 84567890", "0731 ******90"), (ID_CARD, "110101********123X"),
    ("１３８１２３４５６７８", "１３８****５６７８"), ("电话13812345678请回电", "电话138****5678请回电"),
]


def test_page_masks_numbers_and_keeps_length():
    texts = [t for t, _ in PAGE_CASES] + [LETTER]
    got = _page_mask(texts)
    for (text, expected), masked in zip(PAGE_CASES, got):
        assert masked == expected and len(masked) == len(text)
    assert_no_letter(got[-1].replace(SECRET_WORDS[0], "").replace(SECRET_WORDS[1], ""), "the page's masked letter")


def test_page_masks_parenthesised_area_code():
    [masked] = _page_mask(["座机(0731)84567890"])
    assert "84567890" not in masked


def random_pii(rng: random.Random) -> tuple[str, str]:
    """Like the ``pii`` strategy, from a seeded generator (so 300 numbers cost one Node run)."""
    digits = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    kind = rng.choice(["mobile", "landline", "id"])
    if kind == "mobile":
        d = "1" + rng.choice("3456789") + digits(9)
        sep = rng.choice(["", " ", "-"])
        return rng.choice(["", "+86", "+86 ", "+86-", "86"]) + d[:3] + sep + d[3:7] + sep + d[7:], d
    if kind == "landline":
        local = rng.choice("2345678") + digits(rng.choice([6, 7]))
        return "0" + digits(rng.choice([2, 3])) + rng.choice(["", "-", " "]) + local, local
    d = rng.choice("123456789") + digits(16) + rng.choice("0123456789Xx")
    return d, d


def test_page_hides_every_generated_number():
    rng = random.Random(20240607)
    numbers = [random_pii(rng) for _ in range(300)]
    got = _page_mask(["某" + shown + "号" for shown, _ in numbers])
    for (shown, secret), masked in zip(numbers, got):
        assert secret not in re.sub(r"[^0-9Xx]", "", masked), (shown, masked)
        assert len(masked) == len(shown) + 2
