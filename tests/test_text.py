import csv
import re
import unicodedata
from pathlib import Path

import jieba
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from triage.errors import InputTextError
from triage.registry import Registry
from triage.text import _T2S as T2S
from triage.text import (
    Segmenter,
    check_text,
    mask_pii,
    normalize,
    normalize_many,
    normalize_with_offsets,
    read_userdict,
)
from triage.train import build_segmenter

ROOT = Path(__file__).resolve().parents[1]


def test_normalize_fullwidth_space_control_and_traditional():
    assert normalize("  這個　ＡＢＣ１２３\t\n 乡镇\x00干部 ") == "这个 ABC123 乡镇干部"
    assert normalize("a\u200bb") == "ab"  # zero-width space is a format character


def reference_normalize(text: str) -> str:
    """The definition of normalisation, one text at a time, straight from unicodedata and the regex module."""
    s = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()
    s = "".join(c for c in s if c == " " or unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co"))
    s = re.sub(r"\s+", " ", s).strip()
    return T2S.convert(s) if s else s


def test_batch_normalisation_equals_the_definition_on_every_bmp_character():
    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c < 0xE000]
    assert normalize_many(chars) == [reference_normalize(c) for c in chars]
    in_context = [f"办证{c}\u0301拖延 {c}" for c in chars[::7]]
    assert normalize_many(in_context) == [reference_normalize(t) for t in in_context]


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(st.text(st.characters(exclude_categories=("Cs",)), max_size=40), max_size=6))
@example(batch=["e\u0301ﬁ，Ａ", "\u1100\u1161\u11a8", "㈱①\ufb01", "\U0001d400\u0301", "", "\u00a8 \u2028x\u3000"])
def test_batch_normalisation_equals_the_definition(batch):
    import triage.text

    expected = [reference_normalize(t) for t in batch]
    assert normalize_many(batch) == expected  # a small batch: NFKC text by text
    saved, triage.text._TABLE_FROM = triage.text._TABLE_FROM, 0
    try:
        assert normalize_many(batch) == expected  # the same batch through the look-up table
    finally:
        triage.text._TABLE_FROM = saved


@pytest.mark.parametrize("text", ["  這個　ＡＢＣ１２３\t\n 乡镇\x00干部 ", "派出所😀民警", "ｅｍｏｊｉ 👍 發票", "x\r\ny"])
def test_offsets_point_back_into_the_original(text):
    norm, offsets = normalize_with_offsets(text)
    assert norm == normalize(text)
    assert len(offsets) == len(norm)
    assert offsets == sorted(offsets) and all(0 <= i < len(text) for i in offsets)


@pytest.mark.parametrize("bad", ["", "   ", "\t\n", "\x00\x01"])
def test_empty_or_whitespace_text_is_refused(bad):
    with pytest.raises(InputTextError, match="empty"):
        check_text(bad)


def test_non_string_and_huge_text_are_refused():
    with pytest.raises(InputTextError, match="must be a string"):
        check_text(None)
    with pytest.raises(InputTextError, match="limit is 10"):
        check_text("很" * 11, max_chars=10)


def test_mask_pii_masks_mobiles_landlines_and_id_cards():
    masked = mask_pii("电话13812345678，座机0731-84567890，身份证11010119900307123X，金额1500元")
    assert "13812345678" not in masked and "138****5678" in masked
    assert "84567890" not in masked
    assert "11010119900307123X" not in masked and "123X" in masked
    assert "1500元" in masked


def _corpus() -> list[str]:
    texts = []
    for name in ("data/dev.csv", "tests/data/tiny.csv"):
        path = ROOT / name
        if path.exists():
            with open(path, encoding="utf-8") as f:
                texts += [normalize(r["text"]) for r in csv.DictReader(f)]
    return texts


def test_rjieba_tokens_equal_jieba_with_the_same_dictionary():
    registry = Registry.from_csv(ROOT / "data" / "units.csv")
    seg = build_segmenter(registry, [ROOT / "data" / "userdict.txt"])
    ref = jieba.Tokenizer()
    for word, freq, tag in seg.words:
        ref.add_word(word, freq, tag)
    texts = _corpus()
    assert len(texts) >= 30
    for text in texts:
        assert seg.cut(text) == [t for t in ref.lcut(text) if t.strip()], text


@pytest.mark.parametrize("text", [
    "东坝派出所 户籍窗口 拖了半年", " 前后有空格 ", "两个  空格", "tab\t和\n换行", "全角\u3000空格", "hello world 你好",
    "a b c d e", "1 2 3 派出所", "", " ", "办证 。 拖延",
])
def test_segmenter_drops_exactly_the_white_space_tokens(text):
    seg = Segmenter()
    assert seg.cut(text) == [t for t in seg.engine.cut(text) if not t.isspace()]


def test_dictionary_words_stay_whole_and_segmenter_pickles():
    import pickle

    seg = Segmenter([("李家庄村", 2000, None), ("踢皮球", 3000, "v")])
    assert "李家庄村" in seg("我是李家庄村的")
    again = pickle.loads(pickle.dumps(seg))
    assert again("他们踢皮球") == seg("他们踢皮球")


def test_read_userdict(tmp_path):
    p = tmp_path / "d.txt"
    p.write_text("# comment\n踢皮球 3000 v\n东坝镇\n", encoding="utf-8")
    assert read_userdict(p) == [("踢皮球", 3000, "v"), ("东坝镇", 2000, None)]
    p.write_text("词 abc\n", encoding="utf-8")
    with pytest.raises(ValueError, match="whole number"):
        read_userdict(p)


def test_docstring_examples():
    import doctest

    import triage.text

    assert doctest.testmod(triage.text).failed == 0


def test_masking_keeps_length_and_handles_full_width_and_brackets():
    for raw in ["１３８１２３４５６７８", "(0731)84567890", "（0731）84567890", "+86 138-1234-5678"]:
        masked = mask_pii(raw)
        assert len(masked) == len(raw) and "*" in masked, raw


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(exclude_categories=("Cs",)), max_size=60))
@example(text="  這個　ＡＢＣ\t\n 乡镇\x00干部 ")
@example(text="㈱会社 ﬁle\u200b 东坝")
def test_the_vectorised_offsets_equal_the_character_loop(text):
    from triage.text import _char_offsets, _char_offsets_loop

    fast = _char_offsets(text)
    if fast is not None:  # None: a character the table cannot map one-to-one (the loop handles those)
        assert fast == _char_offsets_loop(text)
    else:
        assert any(ord(c) >= 0x10000 or len(unicodedata.normalize("NFKC", c)) > 1 for c in text)
