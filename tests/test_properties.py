"""Property tests: the library's one inference path takes any Unicode and never breaks its contract.

For every input, ``classify`` / ``classify_many`` either raise :class:`triage.errors.InputTextError` (empty,
white-space-only or over the cap) or return a prediction with valid ids, scores in [0, 1] and evidence whose
offsets point into the text as given.
"""
from __future__ import annotations

import csv
import math
import string
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from triage.errors import InputTextError
from triage.prediction import TABLE_COLUMNS
from triage.registry import UNKNOWN
from triage.text import MAX_TEXT_CHARS, mask_pii, normalize, normalize_with_offsets

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# -- strategies ----------------------------------------------------------------------------------------------
#: Any code point except surrogates (which a Python str from the outside world cannot carry through UTF-8).
any_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=400)
control = st.text(st.characters(categories=("Cc", "Cf", "Zs", "Zl", "Zp", "Co")), min_size=1, max_size=60)
emoji = st.text(st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), min_size=1, max_size=40)
cjk = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=200)
punctuation = st.text(
    st.sampled_from(string.punctuation + "，。！？、；：“”‘’（）《》【】…—·～"), min_size=1, max_size=100
)
digits = st.text(st.sampled_from("0123456789０１２３４５６７８９٠١٢٣"), min_size=1, max_size=100)
#: Chinese complaint words, unit names and traps (full-width, traditional, ligatures, case-changing letters).
_PIECES = [
    "东坝派出所", "户籍窗口", "医保报销", "营业执照", "房产证", "拖了半年", "态度恶劣", "12345", "110",
    "東壩派出所", "戶籍", "ＡＢＣ１２３", "ﬁ", "ǅ", "İ", "ẞ", "ß", "Σ", "㍿", "①", "\u200b", "\ufeff", "\x00",
    "\r\n", "\t", " ", "😡", "👨‍👩‍👧", "🇨🇳", "e\u0301", "한국어", "العربية", "русский", "13812345678",
]
mixed = st.lists(st.one_of(st.sampled_from(_PIECES), cjk, any_text), min_size=1, max_size=12).map("".join)
texts = st.one_of(any_text, control, emoji, cjk, punctuation, digits, mixed)
#: Real complaints (so the evidence paths run) with random text spliced in front, inside and behind.
_CORPUS = [r["text"] for r in csv.DictReader(open(Path(__file__).parent / "data" / "tiny.csv", encoding="utf-8"))]
noise = st.one_of(st.sampled_from(_PIECES), any_text, emoji, st.just(""))


@st.composite
def spliced(draw):
    base = draw(st.sampled_from(_CORPUS))
    cut = draw(st.integers(0, len(base)))
    return draw(noise) + base[:cut] + draw(noise) + base[cut:] + draw(noise)


complaints = st.one_of(spliced(), texts)


def _is_blank(text: str) -> bool:
    return not normalize(text)


# -- the contract --------------------------------------------------------------------------------------------
def check_prediction(model, text: str, pred) -> None:
    units = set(model.registry.ids) | {UNKNOWN}
    assert pred.category in model.category_labels
    assert pred.unit in units
    assert pred.unit_source in ("mention", "inferred", "none")
    for score in (pred.category_score, pred.unit_score):
        assert isinstance(score, float) and not math.isnan(score) and 0.0 <= score <= 1.0
    for alt in pred.alternatives:
        assert alt.category in model.category_labels and 0.0 <= alt.score <= 1.0
    for alt in pred.unit_alternatives:
        assert alt["unit"] in units and 0.0 <= alt["score"] <= 1.0
    assert pred.needs_review == bool(pred.review_reasons)
    terms = _feature_terms(model)
    for e in pred.evidence:
        assert 0 <= e.start < e.end <= len(text), (e, len(text))
        assert text[e.start : e.end] == e.term
        assert e.head in ("category", "unit")
        if e.head == "category":
            # The span is the feature that drove the decision, not a neighbour shifted by a length change.
            assert normalize(e.term).lower() in terms, (e, text)


def _feature_terms(model) -> set[str]:
    cached = getattr(model, "_test_terms", None)
    if cached is None:
        cached = set()
        for kind, feat in map(model.feature_name, range(model.n_text_features)):
            term = feat.replace(" ", "") if kind == "word" else feat
            cached |= {term, term.strip()}
        model._test_terms = cached
    return cached


def classify_or_input_error(model, text: str):
    """Classify ``text``; an InputTextError is allowed only when the text is blank or over the cap."""
    try:
        pred = model.classify(text)
    except InputTextError:
        assert _is_blank(text) or len(text) > MAX_TEXT_CHARS, f"refused a usable text: {text!r}"
        return None
    assert not _is_blank(text), f"accepted a blank text: {text!r}"
    check_prediction(model, text, pred)
    return pred


@SETTINGS
@given(text=complaints)
@example(text="\x00")
@example(text="\u200b\u200c\ufeff")
@example(text="İİİ东坝派出所户籍窗口")  # 'İ'.lower() is two characters
@example(text="İİİ房产证交上去半年了还没办下来，每次去问都说再等等")  # ... and shifts every span after it
@example(text="ﬁﬁ医保报销拖了半年")  # NFKC turns one ligature into two letters
@example(text="ẞẞ营业执照ǅ")
@example(text="😡" * 50)
@example(text="0731-84567890 13812345678 11010119900307123X")
def test_classify_any_unicode(model, text):
    classify_or_input_error(model, text)


@SETTINGS
@given(batch=st.lists(complaints, min_size=1, max_size=8))
def test_classify_many_matches_classify(model, batch):
    usable = [t for t in batch if not _is_blank(t)]
    if len(usable) != len(batch):
        with pytest.raises(InputTextError):
            model.classify_many(batch)
    if not usable:
        return
    preds = model.classify_many(usable)
    assert len(preds) == len(usable)
    for text, pred in zip(usable, preds):
        check_prediction(model, text, pred)
        one = model.classify(text)
        assert (one.category, one.unit, one.category_score) == (pred.category, pred.unit, pred.category_score)


@SETTINGS
@given(text=st.text(st.sampled_from(" \t\r\n\x0b\x0c\u3000\u00a0\u2028\u200b\ufeff\x00\x1f\x7f"), max_size=50))
def test_blank_text_is_an_input_error(model, text):
    with pytest.raises(InputTextError):
        model.classify(text)


@SETTINGS
@given(value=st.one_of(st.none(), st.integers(), st.floats(), st.binary(), st.lists(st.text(max_size=3))))
def test_non_string_is_an_input_error(model, value):
    with pytest.raises(InputTextError):
        model.classify_many([value])


@SETTINGS
@given(text=texts)
def test_offsets_map_normalised_characters_into_the_text(text):
    norm, offsets = normalize_with_offsets(text)
    assert len(norm) == len(offsets)
    assert offsets == sorted(offsets)
    assert all(0 <= i < len(text) for i in offsets)


@SETTINGS
@given(text=texts)
def test_mask_pii_never_raises_and_keeps_non_digits(text):
    masked = mask_pii(text)
    assert isinstance(masked, str)
    # Masking only touches digits (and puts '-' into a landline): letters and Chinese are never altered.
    strip = lambda s: "".join(c for c in s if not (c.isdigit() or c in "*- +xX"))  # noqa: E731
    assert strip(masked) == strip(text)


@SETTINGS
@given(batch=st.lists(st.one_of(complaints, st.none(), st.just("  ")), min_size=1, max_size=8))
def test_classify_table_holds_the_decisions_of_classify_many(model, batch):
    table = model.classify_table(batch)
    preds = model.classify_many(batch, errors="return")
    assert list(table.columns) == TABLE_COLUMNS and len(table) == len(batch)
    for row, pred in zip(table.itertuples(index=False), preds):
        if isinstance(pred, InputTextError):
            assert row.error == str(pred) and row.category is None and math.isnan(row.category_score)
            continue
        assert row.error is None
        assert (row.category, row.category_name, row.category_score) == (pred.category, pred.name, pred.category_score)
        assert (row.unit, row.unit_name, row.unit_score, row.unit_source) == (
            pred.unit, pred.unit_name, pred.unit_score, pred.unit_source)
        assert bool(row.needs_review) == pred.needs_review


# -- the 100,000-character cases (explicit: too slow to draw at random) --------------------------------------
LONG = [
    pytest.param("东坝派出所户籍窗口拖了半年没人管。" * (MAX_TEXT_CHARS // 17), id="chinese"),
    pytest.param(("😡👨‍👩‍👧🇨🇳" * MAX_TEXT_CHARS)[:MAX_TEXT_CHARS], id="emoji"),
    pytest.param("1" * MAX_TEXT_CHARS, id="digits"),
    pytest.param("，。！？" * (MAX_TEXT_CHARS // 4), id="punctuation"),
    pytest.param(("İﬁ東壩派出所\x00\u200b" * MAX_TEXT_CHARS)[:MAX_TEXT_CHARS], id="traps"),
    pytest.param("".join(chr(c) for c in range(0x20, 0x20 + MAX_TEXT_CHARS) if not 0xD800 <= c < 0xE000)[:MAX_TEXT_CHARS]
                 .ljust(MAX_TEXT_CHARS, "字"), id="every-codepoint"),
]


@pytest.mark.parametrize("text", LONG)
def test_text_at_the_cap(model, text):
    assert len(text) <= MAX_TEXT_CHARS
    assert len(text) > MAX_TEXT_CHARS - 20
    pred = classify_or_input_error(model, text)
    assert pred is not None


@pytest.mark.parametrize("n", [MAX_TEXT_CHARS + 1, 2 * MAX_TEXT_CHARS])
def test_text_over_the_cap_is_an_input_error(model, n):
    with pytest.raises(InputTextError, match="limit"):
        model.classify("字" * n)
    with pytest.raises(InputTextError):
        model.classify_many(["好", "字" * n])


def test_every_unicode_category_once(model):
    """One character of each general category (surrogates excluded), padded so the text is not blank."""
    seen: dict[str, str] = {}
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        seen.setdefault(unicodedata.category(chr(cp)), chr(cp))
    text = "派出所" + "".join(seen.values()) + "户籍"
    classify_or_input_error(model, text)
