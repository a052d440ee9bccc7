"""The compiled segmenter (``triage/_segment.c``) against rjieba: the same tokens, the same vocabulary ids."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage import features, segment
from triage.kernels import segment_compiled
from triage.text import Segmenter, normalize_many

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    segment_compiled is None or segment._jieba_data() is None,
    reason="the _segment extension was not built or jieba's files are missing",
)
if os.environ.get("TRIAGE_REQUIRE_KERNELS") and segment_compiled is None:  # CI: a missing build is a failure
    raise RuntimeError("TRIAGE_REQUIRE_KERNELS is set but triage._segment was not built")

_WORDS = [("李家庄村", 2000, None), ("踢皮球", 3000, "v"), ("东坝派出所", 2500, None), ("医保报销", 1200, None)]


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter(_WORDS)


def _dictionary(segmenter, vocabulary=("的",)):
    text = segment.probe_text(list(vocabulary))
    d = segment.compiled_dictionary(segmenter.words, list(vocabulary), (text, segmenter.cut(text)))
    assert d is not None
    return d


@pytest.fixture(scope="module")
def default_model():
    from triage import load_model

    return load_model()


def _letters() -> list[str]:
    """Every corpus letter, and the real messages when ../shared is there (read at run time, never stored)."""
    texts = []
    for name in ("train", "dev", "test", "heldout"):
        path = ROOT / "data" / f"{name}.csv"
        if path.exists():
            texts += pd.read_csv(path, dtype=str, keep_default_na=False)["text"].tolist()
    real = Path(os.environ.get("TRIAGE_REAL_DATASET", ROOT.parent / "shared" / "datasets" / "gov-messages-2020"))
    if (real / "unlabelled.csv").exists():
        df = pd.read_csv(real / "unlabelled.csv", dtype=str, keep_default_na=False)
        texts += (df["title"] + "\n" + df["text"]).tolist()
    if (real / "messages.csv").exists():
        texts += pd.read_csv(real / "messages.csv", dtype=str, keep_default_na=False)["text"].tolist()
    return texts


def test_the_default_model_cuts_every_letter_as_rjieba_does(default_model):
    seg = default_model.segmenter
    d = _dictionary(seg, default_model.words.words)
    texts = [t.lower() for t in normalize_many(_letters())]
    assert len(texts) > 4000
    differ = [t for t in texts if d.cut(t) != seg.cut(t)]
    assert not differ, f"{len(differ)} letters cut differently, e.g. {differ[0][:60]!r}"


# Characters where the rules change: CJK blocks and their edges (the HMM stops at U+9FD5), extension A, compatibility
# ideographs, an astral ideograph; ASCII letters, digits and the joiners the blocks keep; white space of every kind.
_ALPHABET = (list("的了是在我有他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过发后作里用道行所"
                  "然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心她本前开但因只从想实日军")
             + ["\u4e00", "\u9fd5", "\u9fd6", "\u9fff", "\u3400", "\u4dbf", "\uf900", "\ufaff", "\U00020000", "\U0002a6d6"]
             + list("abcXYZ0129+#&._%-") + [" ", "\t", "\n", "\r", "\r\n", "\u3000", "\x1c", "\xa0"]
             + list("，。！？、；：“”（）《》【】…—·") + ["😀", "①", "Ⅻ", "é", "İ", "ß"])
texts = st.lists(st.sampled_from(_ALPHABET), max_size=60).map("".join)


@pytest.fixture(scope="module")
def vocabulary(segmenter) -> list[str]:
    """Every other token of the dev letters and of the alphabet's characters, and a word never seen."""
    dev = pd.read_csv(ROOT / "data" / "dev.csv", dtype=str, keep_default_na=False)["text"].tolist()
    tokens = {t for text in dev + _ALPHABET for t in segmenter.cut(text.lower())}
    return sorted(tokens)[::2] + ["从未出现"]


@pytest.fixture(scope="module")
def dictionary(segmenter, vocabulary):
    return _dictionary(segmenter, vocabulary)


@settings(max_examples=400, deadline=None)
@given(text=texts)
def test_any_text_is_cut_as_rjieba_cuts_it(segmenter, dictionary, text):
    assert dictionary.cut(text) == segmenter.cut(text)


@settings(max_examples=200, deadline=None)
@given(docs=st.lists(texts, max_size=8), head=st.sampled_from([0, 1, 3, 40]))
def test_ids_are_the_token_ids_of_the_tokens(segmenter, dictionary, vocabulary, docs, head):
    """Columns, rows and head tokens as :func:`features.token_ids` gives them from rjieba's tokens."""
    d = dictionary
    counts, k = np.empty(len(docs), np.int64), np.empty(len(docs), np.int64)
    cols = np.empty(sum(map(len, docs)), np.int64)
    found = d.ids(docs, head, cols, counts, k)
    got = features._with_rows(cols[:found], counts, k, 0, head)
    want = features.token_ids([segmenter.cut(t) for t in docs], {w: i for i, w in enumerate(vocabulary)}, head)
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            np.testing.assert_array_equal(a, b)


def test_the_model_words_and_the_vocabulary_are_in_the_dictionary(segmenter):
    d = _dictionary(segmenter, ["踢皮球", "没有的词"])
    assert d.has_word("踢皮球") and d.has_word("我们") and not d.has_word("没有的词") and not d.has_word("")
    assert d.cut("他们又踢皮球") == segmenter.cut("他们又踢皮球")


def test_a_word_added_twice_keeps_its_last_frequency_and_the_total_follows(segmenter):
    data = segment._jieba_data()
    base = segment_compiled.Dictionary(data[0], [], [], *(np.ravel(a) for a in data[1:]))
    once = segment_compiled.Dictionary(data[0], [("李家庄村", 3000)], [], *(np.ravel(a) for a in data[1:]))
    twice = segment_compiled.Dictionary(data[0], [("李家庄村", 10), ("李家庄村", 3000)], [],
                                        *(np.ravel(a) for a in data[1:]))
    assert not base.has_word("李家庄村") and once.has_word("李家庄村")
    assert once.total == twice.total == base.total + 3000
    assert once.cut("我是李家庄村的") == twice.cut("我是李家庄村的") == segmenter.cut("我是李家庄村的")


def test_hmm_tables_are_jiebas(segmenter):
    from jieba.finalseg import prob_emit, prob_start, prob_trans

    start, trans, emit = segment.read_hmm(segment.jieba_dir())
    assert start.tolist() == [prob_start.P[s] for s in "BEMS"]
    for i, a in enumerate("BEMS"):
        for j, b in enumerate("BEMS"):
            assert trans[i, j] == prob_trans.P[a].get(b, -3.14e100)
        table = prob_emit.P[a]
        for c in range(segment_compiled.HMM_FIRST, segment_compiled.HMM_LAST + 1):
            assert emit[c - segment_compiled.HMM_FIRST, i] == table.get(chr(c), -3.14e100)


def test_a_segmenter_that_cuts_differently_is_not_used(segmenter, caplog):
    text = segment.probe_text(["的"])
    assert segment.compiled_dictionary(segmenter.words, ["的"], (text, list(text))) is None
    assert "does not cut like rjieba" in caplog.text


def test_bad_input_is_refused(segmenter):
    data = segment._jieba_data()
    hmm = [np.ravel(a) for a in data[1:]]
    with pytest.raises(ValueError, match="line 2: the frequency"):
        segment_compiled.Dictionary("甲 3 n\n乙 x n\n".encode(), [], [], *hmm)
    with pytest.raises(ValueError, match="line 1 is not valid UTF-8"):
        segment_compiled.Dictionary(b"\xe7\x94 3 n\n", [], [], *hmm)
    with pytest.raises(ValueError, match="hmm_emit"):
        segment_compiled.Dictionary(b"", [], [], hmm[0], hmm[1], hmm[2][:-4])
    with pytest.raises(TypeError):
        segment_compiled.Dictionary(b"", [("词", "many")], [], *hmm)
    d = _dictionary(segmenter)
    one = np.empty(1, np.int64)
    with pytest.raises(ValueError, match="room"):
        d.ids(["好几个字"], 0, one, one.copy(), one.copy())
    with pytest.raises(ValueError, match="one entry per text"):
        d.ids(["a", "b"], 0, np.empty(2, np.int64), one, one.copy())
    with pytest.raises(TypeError, match="not a str"):
        d.ids([3], 0, one, one.copy(), one.copy())
    with pytest.raises(TypeError, match="int64"):
        d.ids(["a"], 0, np.empty(1, np.float64), one, one.copy())


def test_a_dictionary_of_our_own_segments_by_its_frequencies(segmenter):
    """A tiny dictionary: the route takes the likelier split, and an unknown run goes to the HMM."""
    hmm = [np.ravel(a) for a in segment._jieba_data()[1:]]
    d = segment_compiled.Dictionary("甲乙 10\n乙丙 1000\n甲 500\n".encode(), [], [], *hmm)
    assert d.cut("甲乙丙") == ["甲", "乙丙"]
    d = segment_compiled.Dictionary("甲乙 1000\n乙丙 10\n丙 500\n".encode(), [], [], *hmm)
    assert d.cut("甲乙丙") == ["甲乙", "丙"]
    assert d.total == 1510


def test_a_saved_model_brings_its_check_and_batches_without_rjieba(trained_dir):
    """The check saved with the model vouches for the compiled segmenter: rjieba's engine is never built."""
    from triage.predictor import Predictor

    model = Predictor.from_dir(trained_dir)
    text, tokens = model.words.segmentation_check
    assert text.startswith(segment._PROBE) and tokens
    model.build_lookup_tables()
    assert model.words._segmenter is not None and model.segmenter._engine is None
    model.classify_table(["东坝派出所的民警骂人"] * 3000)
    assert model.segmenter._engine is None
    assert model.segmenter.cut(text) == tokens and model.segmenter._engine is not None


def test_a_model_whose_check_fails_segments_with_rjieba(trained_dir, caplog):
    from triage.predictor import Predictor

    model, reference = Predictor.from_dir(trained_dir), Predictor.from_dir(trained_dir)
    text, tokens = model.words.segmentation_check
    model.words.segmentation_check = (text, tokens[::-1])
    model.build_lookup_tables()
    assert model.words._segmenter is None and model.words._short is not None
    assert "does not cut like rjieba" in caplog.text
    texts = ["医保报销四个月没到账", "东坝派出所的民警骂人"] * 2000
    pd.testing.assert_frame_equal(model.classify_table(texts), reference.classify_table(texts))


def test_hmm_ties_go_to_the_later_state_as_in_jieba_rs(segmenter):
    """With every probability equal, the Viterbi path is decided by ties alone: between two predecessors the
    later state in B, E, M, S wins (Rust's ordering of (probability, state) pairs). S is ruled out here, so the
    last character is E, reached from M (not B), and the three characters are one word."""
    start, trans, emit = np.zeros(4), np.zeros(16), np.zeros((segment_compiled.HMM_LAST - segment_compiled.HMM_FIRST + 1, 4))
    emit[:, 3] = -3.14e100  # S impossible
    d = segment_compiled.Dictionary(b"", [], [], start, trans, emit.ravel())
    assert d.cut("一二三") == ["一二三"]


def test_a_dictionary_with_broken_utf8_is_refused(segmenter):
    hmm = [np.ravel(a) for a in segment._jieba_data()[1:]]
    with pytest.raises(ValueError, match="line 1 is not valid UTF-8"):
        segment_compiled.Dictionary(b"\xe7\x94A 3 n\n", [], [], *hmm)  # a lead byte followed by an ASCII letter
