"""End to end: the real server (uvicorn on a free loopback port) and the page in headless Chromium."""
from __future__ import annotations

import os

import pytest
from e2e import ARTIFACTS, chromium, running_service

pytestmark = pytest.mark.slow

# An emoji (two UTF-16 units, one code point) before the evidence checks that offsets are read as Python's.
LETTER = ("😤东坝派出所户籍窗口下午三点就没人了，等了一下午也没办成，打电话13812345678也没人接，"
          "身份证110101199003071234的材料交了三次。")


@pytest.fixture(scope="module")
def server(trained_dir):
    """``uvicorn service.main:create_app --factory`` in a subprocess; yields its base URL."""
    env = {**os.environ, "TRIAGE_MODEL_DIR": str(trained_dir)}
    env.pop("TRIAGE_API_KEYS", None)
    with running_service(env) as base:
        yield base


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("chromium-profile"), viewport={"width": 1100, "height": 900},
                  accept_downloads=True) as ctx:
        yield ctx


@pytest.fixture
def page(browser_context):
    pg = browser_context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield pg
    pg.close()
    assert not errors, errors


def test_paste_classify_shows_category_unit_and_highlight(server, page, model):
    expected = model.classify_many([LETTER])[0]
    page.goto(server + "/")
    page.locator("#model-status").filter(has_text="模型").wait_for()
    page.fill("#letter", LETTER)
    page.click("#classify-btn")
    page.locator("#result").wait_for(state="visible")

    assert page.inner_text("#cat-char") == expected.char
    assert page.inner_text("#cat-name") == expected.name
    assert page.inner_text("#unit-name") == expected.unit_name == "县公安局"
    assert page.inner_text("#unit-source") == "信中点名"
    review = page.inner_text("#review")
    assert ("需人工复核" in review) == expected.needs_review

    # highlights sit exactly on the evidence spans, counted in code points despite the emoji
    unit_marks = "".join(page.locator("#highlighted mark.ev-unit").all_inner_texts())
    unit_terms = [e.term for e in sorted(expected.evidence, key=lambda e: e.start) if e.head == "unit"]
    assert "东坝派出所" in unit_terms
    assert unit_marks == "".join(unit_terms)
    cat_terms = [e.term for e in expected.evidence if e.head == "category" and not any(c.isdigit() for c in e.term)]
    marked = page.locator("#highlighted mark.ev-category").all_inner_texts()
    for term in cat_terms:
        assert any(term in m or m in term for m in marked), (term, marked)

    # phone and ID numbers are masked, one "*" per digit, so the letter keeps its length
    shown = page.inner_text("#highlighted")
    assert "13812345678" not in shown and "138****5678" in shown
    assert "110101********1234" in shown
    assert len(shown) == len(LETTER)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page_paste.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "page_paste_narrow.png"), full_page=True)


def test_mask_keeps_length_and_matches_library(server, page):
    from triage.text import mask_pii

    page.goto(server + "/")
    cases = ["电话13812345678", "身份证110101199003071234号", "座机0571-87654321", "+86 138-1234-5678 找我",
             "１３８１２３４５６７８"]
    for text in cases:
        masked = page.evaluate("t => window.triagePage.maskPii(t)", text)
        assert len(masked) == len(text)
        assert sum(c.isdigit() for c in masked) < sum(c.isdigit() for c in text), (text, masked)
        if text.isascii() or all(not c.isdigit() or c.isascii() for c in text):
            if len(mask_pii(text)) == len(text):  # where the library keeps the length, both agree
                assert masked == mask_pii(text)


def test_empty_letter_shows_an_error(server, page):
    page.goto(server + "/")
    page.fill("#letter", "   ")
    page.click("#classify-btn")
    page.locator("#paste-error").wait_for(state="visible")
    assert "粘贴" in page.inner_text("#paste-error")


def test_upload_tab_downloads_labelled_file(server, page, tmp_path):
    src = tmp_path / "来信.csv"
    src.write_text("id,text\n1,东坝派出所户籍窗口没人\n2,医保报销材料交了四个月钱还没到账\n", encoding="utf-8")
    page.goto(server + "/")
    page.click("#tab-upload")
    page.set_input_files("#file", str(src))
    page.fill("#id-col", "id")
    with page.expect_download() as dl:
        page.click("#upload-btn")
    download = dl.value
    assert download.suggested_filename == "来信_labelled.csv"
    out = tmp_path / "out.csv"
    download.save_as(out)
    text = out.read_text(encoding="utf-8-sig")
    assert "category" in text.splitlines()[0] and "police" in text
    assert "共 2 行" in page.inner_text("#upload-summary")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page_upload.png"), full_page=True)
