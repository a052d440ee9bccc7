"""The decision code: review flags, thresholds, the no-signal rule, the work-style step and the unit head's paths.

Each test pins one decision so that breaking it (a flag turned off, ``<`` made ``<=``, a cutoff moved, a constant
confidence) fails here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triage.model import _single_mention_precision
from triage.predictor import MIN_INFERRED_UNIT_SCORE, OTHER
from triage.registry import UNKNOWN, Mention
from triage.train import (
    TARGET_PRECISION,
    TARGET_PRECISION_REAL,
    select_threshold,
    tune_thresholds,
)

LETTER = "医保报销材料交了四个月钱还没到账, 窗口说再等等"


@pytest.fixture
def fresh(model):
    """The session's tiny model with its thresholds and settings restored after each test."""
    saved = dict(model.thresholds_), model._ws_threshold, model._mention_override, model.mention_precision_
    yield model
    model.thresholds_, model._ws_threshold, model._mention_override, model.mention_precision_ = (
        saved[0], saved[1], saved[2], saved[3])


# --- review flags --------------------------------------------------------------------------------------------
def test_a_category_score_exactly_at_the_threshold_is_not_flagged(fresh):
    score = fresh.classify(LETTER).category_score
    fresh.thresholds_ = {"category": score, "unit": 0.0}
    p = fresh.classify(LETTER)
    assert not p.needs_review and p.review_reasons == []
    fresh.thresholds_ = {"category": round(score + 0.0001, 4), "unit": 0.0}
    p = fresh.classify(LETTER)
    assert p.needs_review and p.review_reasons == ["category_low_confidence"]


def test_a_unit_score_below_its_threshold_flags_the_letter(fresh):
    score = fresh.classify(LETTER).unit_score
    fresh.thresholds_ = {"category": 0.0, "unit": score}
    assert not fresh.classify(LETTER).needs_review
    fresh.thresholds_ = {"category": 0.0, "unit": round(score + 0.0001, 4)}
    p = fresh.classify(LETTER)
    assert p.needs_review and p.review_reasons == ["unit_low_confidence"]


def test_both_heads_can_flag_at_once_and_the_table_agrees(fresh):
    fresh.thresholds_ = {"category": 1.01, "unit": 1.01}
    p = fresh.classify(LETTER)
    assert p.review_reasons == ["category_low_confidence", "unit_low_confidence"]
    table = fresh.classify_table([LETTER, "东坝派出所的民警骂人"])
    assert table["needs_review"].tolist() == [True, True]
    fresh.thresholds_ = {"category": 0.0, "unit": 0.0}
    assert fresh.classify_table([LETTER])["needs_review"].tolist() == [False]


# --- thresholds chosen at training -----------------------------------------------------------------------------
def test_select_threshold_is_the_lowest_that_reaches_the_target():
    scores = np.array([0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    correct = np.array([False, False, True, False, True, True, True, True])
    # from 0.61 up, every kept answer is right; at 0.5 one of six is wrong (0.83)
    assert select_threshold(scores, correct, 1.0, default=0.5) == 0.61
    assert select_threshold(scores, correct, 0.8, default=0.5) == 0.41
    # asking that at least 90% are kept makes no threshold good enough
    assert select_threshold(scores, correct, 1.0, default=0.5, min_share=0.9) == 0.5


def _pred(category, category_score, unit="medins", unit_score=0.9):
    from types import SimpleNamespace

    return SimpleNamespace(category=category, category_score=category_score, unit=unit, unit_score=unit_score)


def test_category_threshold_is_tuned_on_the_real_letters_when_there_are_some():
    # corpus rows: always right; real rows: right only at high scores
    frame = pd.DataFrame({
        "category": ["slow"] * 10 + ["other"] * 10,
        "unit": ["medins"] * 10 + [None] * 10,
        "origin": ["file"] * 10 + ["real"] * 10,
    })
    preds = [_pred("slow", 0.3 + 0.05 * i) for i in range(10)]
    preds += [_pred("other" if i >= 6 else "slow", 0.3 + 0.05 * i) for i in range(10)]
    thresholds, report = tune_thresholds(preds, frame)
    assert report["category"]["tuned_on"] == "real" and report["category"]["rows"] == 10
    assert report["category"]["target_accuracy"] == TARGET_PRECISION_REAL["category"]
    assert thresholds["category"] == pytest.approx(0.56)  # first grid point above the last wrong real score, 0.55
    assert report["unit"]["rows"] == 10 and report["unit"]["target_accuracy"] == TARGET_PRECISION["unit"]
    without_real = frame.assign(origin="file")
    assert tune_thresholds(preds, without_real)[1]["category"]["tuned_on"] == "all"


def test_training_with_cv_stores_the_thresholds_it_tuned(tmp_path, tiny_csv):
    from triage.train import train_and_save

    manifest = train_and_save([tiny_csv], tmp_path / "m", cv=2)
    review = manifest["metrics"]["review"]
    assert manifest["thresholds"] == {h: review[h]["threshold"] for h in ("category", "unit")}
    assert manifest["metrics"]["cv"]["grouped"] is True


# --- no signal -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["asdfgh 12345", "!!!???", "qwerty", "１２３４５６"])
def test_text_without_signal_is_other_and_flagged(model, text):
    p = model.classify(text)
    assert p.category == OTHER and p.needs_review and p.review_reasons == ["no_signal"]
    assert (p.unit, p.unit_source, p.unit_score) == (UNKNOWN, "none", 0.0)
    row = model.classify_table([text]).iloc[0]
    assert row["category"] == OTHER and bool(row["needs_review"]) and row["unit"] == UNKNOWN


def test_chinese_with_known_words_has_signal(model):
    assert "no_signal" not in model.classify(LETTER).review_reasons


UNKNOWN_WORDS = "饕餮魑魅魍魉"  # Chinese, but no word of the tiny corpus


def _known_words(model, text):
    from triage.text import normalize

    return int(model.features([normalize(text)])[0].row_lengths()[0])


def test_chinese_without_a_known_word_has_no_signal(model):
    assert _known_words(model, UNKNOWN_WORDS) == 0
    p = model.classify(UNKNOWN_WORDS)
    assert p.category == OTHER and p.review_reasons == ["no_signal"] and p.unit == UNKNOWN


def test_one_known_word_is_signal_even_after_the_head(model):
    word = "医保"
    one = word + UNKNOWN_WORDS
    assert _known_words(model, one) == 1
    assert "no_signal" not in model.classify(one).review_reasons
    late = UNKNOWN_WORDS * 8 + word  # 48 unknown characters, then the word: the head block (40) is empty
    assert _known_words(model, late) == 1
    assert "no_signal" not in model.classify(late).review_reasons


# --- the work-style step ---------------------------------------------------------------------------------------
def test_work_style_threshold_weighs_the_eight_together(fresh):
    labels = fresh.category_labels
    o = labels.index(OTHER)
    p = np.zeros((2, len(labels)))
    p[0, o] = 0.4  # the eight share 0.6; none alone beats other
    p[0, [j for j in range(len(labels)) if j != o]] = 0.6 / (len(labels) - 1)
    p[0, (o + 1) % len(labels)] += 0.01
    p[0, o] -= 0.01
    p[1, o] = 0.7
    p[1, (o + 1) % len(labels)] = 0.3
    fresh._ws_threshold = None
    assert fresh._category_choice(p).tolist() == [o, o]
    fresh._ws_threshold = 0.5
    assert fresh._category_choice(p).tolist() == [(o + 1) % len(labels), o]
    fresh._ws_threshold = 0.62
    assert fresh._category_choice(p).tolist() == [o, o]


# --- the unit head's paths -------------------------------------------------------------------------------------
def _p(model, **probs):
    p = np.full(len(model.unit_labels), 0.0)
    for unit, v in probs.items():
        p[model.unit_labels.index(unit)] = v
    return p


def _named(*units):
    return [Mention(u, 0, 2, "xx") for u in units]


def test_several_named_units_are_ranked_by_the_classifier_not_by_order(fresh):
    unit, score, source = fresh._unit(_named("dongba", "police"), _p(fresh, police=0.6, dongba=0.2, unknown=0.2))
    assert (unit, source) == ("police", "mention") and score == pytest.approx(0.75)


def test_one_named_unit_agreeing_with_the_classifier_scores_its_training_precision(fresh):
    fresh.mention_precision_ = 0.87
    assert fresh._unit(_named("police"), _p(fresh, police=0.5, health=0.3)) == ("police", 0.87, "mention")


def test_a_place_named_gives_way_to_the_service_the_letter_is_about(fresh):
    fresh._mention_override = 1.0
    p = _p(fresh, power=0.6, dongba=0.25)
    assert fresh._unit(_named("dongba"), p) == ("power", 0.6, "inferred")
    fresh._mention_override = 3.0  # the service must now outweigh the place three times over
    unit, score, source = fresh._unit(_named("dongba"), p)
    assert (unit, source) == ("dongba", "mention") and score == pytest.approx(0.25 / 0.85)


def test_a_weak_service_does_not_override_a_named_unit(fresh):
    fresh._mention_override = 1.0
    unit, _, source = fresh._unit(_named("dongba"), _p(fresh, power=MIN_INFERRED_UNIT_SCORE - 0.05, dongba=0.1))
    assert (unit, source) == ("dongba", "mention")


def test_nothing_named_infers_the_unit_above_the_cutoff_only(fresh):
    above = _p(fresh, medins=MIN_INFERRED_UNIT_SCORE + 0.01, unknown=0.2)
    assert fresh._unit([], above) == ("medins", pytest.approx(MIN_INFERRED_UNIT_SCORE + 0.01), "inferred")
    below = _p(fresh, medins=MIN_INFERRED_UNIT_SCORE - 0.01, unknown=0.2)
    assert fresh._unit([], below) == (UNKNOWN, 0.2, "none")
    assert fresh._unit([], _p(fresh, unknown=0.7, medins=0.3)) == (UNKNOWN, 0.7, "none")


def test_the_name_rule_confidence_comes_from_the_training_labels(parts):
    registry = parts[0]
    norms = ["东坝派出所的民警", "东坝派出所的民警", "东坝派出所的民警", "县医保局"]
    assert _single_mention_precision(registry, norms, ["police", "police", "dongba", "medins"]) == pytest.approx(4 / 6)
    assert _single_mention_precision(registry, norms, ["police"] * 3 + ["medins"]) == pytest.approx(5 / 6)
    assert _single_mention_precision(registry, ["没有单位"], ["unknown"]) == 0.9


def test_partial_labels_train_each_head_on_its_own_rows(parts, tiny_csv):
    from triage.model import TriageModel

    registry, seg, cats = parts
    df = pd.read_csv(tiny_csv)
    units = [u if i % 2 else None for i, u in enumerate(df.unit)]
    m = TriageModel(segmenter=seg, registry=registry, categories=cats).fit(df.text, df.category, units)
    assert set(m.unit_labels) == {u for u in units if u}
    assert set(m.category_labels) == set(df.category)
    with pytest.raises(ValueError, match="one label"):
        TriageModel(segmenter=seg, registry=registry).fit(df.text, df.category[:3])


def test_a_township_whose_own_people_acted_is_not_overridden_by_the_service(fresh):
    fresh._mention_override = 1.0
    p = _p(fresh, civil=0.6, xiba=0.25)
    assert fresh._unit(_named("xiba"), p, actors=True)[::2] == ("xiba", "mention")
    assert fresh._unit(_named("xiba"), p, actors=False) == ("civil", 0.6, "inferred")
    # the actors rule is about townships only: a named department still gives way to the service
    assert fresh._unit(_named("health"), _p(fresh, medins=0.6, health=0.2), actors=True)[0] == "medins"


@pytest.mark.parametrize("text, unit", [
    ("镇上管低保的干部把我家的材料压了半年", True),
    ("李家庄村的变压器坏了三天, 打95598没人来", False),
])
def test_township_actor_words(text, unit):
    from triage.predictor import TOWNSHIP_ACTORS

    assert (TOWNSHIP_ACTORS.search(text) is not None) is unit


def test_a_named_unit_the_classifier_never_saw_ranks_last(fresh):
    assert "gucheng" not in fresh.unit_labels  # the tiny corpus has no letter for it
    unit, score, source = fresh._unit(_named("gucheng", "police"), _p(fresh, police=0.3, unknown=0.5))
    assert (unit, source) == ("police", "mention") and score == pytest.approx(0.3 / 0.8)


def test_a_township_named_only_as_the_place_gives_way_to_unknown(fresh):
    """Rule 4 of the guide: the town named as where a private dispute happened, nothing pointing to a unit."""
    fresh._mention_override = 1.0
    fresh.mention_precision_ = 0.9
    p = _p(fresh, unknown=0.6, dongba=0.3)
    assert fresh._unit(_named("dongba"), p) == (UNKNOWN, 0.6, "none")
    # its own people acted: the township is the unit, as when the classifier agrees with the name
    assert fresh._unit(_named("dongba"), p, actors=True) == ("dongba", 0.9, "mention")
    # unknown must outweigh the township by the override ratio, like any other unit
    fresh._mention_override = 3.0
    unit, score, source = fresh._unit(_named("dongba"), p)
    assert (unit, source) == ("dongba", "mention") and score == pytest.approx(0.3 / 0.9)
    # a named department is not a place: the classifier's unknown does not outweigh it
    fresh._mention_override = 1.0
    assert fresh._unit(_named("police"), _p(fresh, unknown=0.6, police=0.3)) == ("police", 0.9, "mention")


def test_the_service_wins_at_exactly_the_override_ratio(fresh):
    fresh._mention_override = 2.0
    assert fresh._unit(_named("dongba"), _p(fresh, power=0.5, dongba=0.25))[0] == "power"
    assert fresh._unit(_named("dongba"), _p(fresh, power=0.5, dongba=0.2501))[0] == "dongba"


def test_without_a_unit_head_the_first_named_unit_or_unknown(parts, tiny_csv):
    from triage.model import TriageModel

    registry, seg, cats = parts
    df = pd.read_csv(tiny_csv)
    m = TriageModel(segmenter=seg, registry=registry, categories=cats).fit(df.text, df.category)
    named = m.classify("东坝派出所的民警和县医保局都不管")
    assert (named.unit, named.unit_source, named.unit_score) == ("police", "mention", 0.9)
    nothing = m.classify("等了半年还没有消息")
    assert (nothing.unit, nothing.unit_source, nothing.unit_score) == (UNKNOWN, "none", 0.0)


def test_a_service_scoring_exactly_the_cutoff_is_inferred(fresh):
    p = _p(fresh, medins=MIN_INFERRED_UNIT_SCORE, unknown=0.2)
    assert fresh._unit([], p)[::2] == ("medins", "inferred")


def test_a_batch_of_only_unusable_texts(model):
    table = model.classify_table(["", "   ", "\x00"])
    assert table["category"].isna().all() and table["error"].notna().all()
    assert all(isinstance(r, Exception) for r in model.classify_many(["", " "], errors="return"))


@pytest.fixture(scope="module")
def one_head_models(parts, tiny_csv):
    from triage.model import TriageModel

    registry, seg, cats = parts
    df = pd.read_csv(tiny_csv)
    no_other = df[df.category != OTHER]
    no_unknown = df[df.unit != UNKNOWN]
    return {
        "unit_only": TriageModel(segmenter=seg, registry=registry, categories=cats).fit(df.text, None, df.unit),
        "without_other": TriageModel(segmenter=seg, registry=registry).fit(no_other.text, no_other.category),
        "without_unknown": TriageModel(segmenter=seg, registry=registry).fit(no_unknown.text, None, no_unknown.unit),
    }


def test_a_unit_only_model_routes_and_flags_by_its_unit(one_head_models):
    m = one_head_models["unit_only"]
    p = m.classify(LETTER)
    assert p.category is None and p.unit == "medins" and p.unit_source == "inferred"
    row = m.classify_table([LETTER]).iloc[0]
    assert row["unit"] == "medins" and row["category"] is None
    assert bool(row["needs_review"]) == (p.unit_score < m.thresholds_["unit"])


def test_the_tiny_model_infers_a_service_unit(model):
    p = model.classify(LETTER)
    assert (p.unit, p.unit_source) == ("medins", "inferred")


def test_no_signal_without_an_other_label_keeps_the_top_category_and_flags(one_head_models):
    m = one_head_models["without_other"]
    p = m.classify("asdfgh 12345")
    assert p.category in m.category_labels and p.needs_review and p.review_reasons == ["no_signal"]


def test_without_unknown_labels_an_unsure_inference_is_unknown_with_no_score(one_head_models):
    m = one_head_models["without_unknown"]
    assert UNKNOWN not in m.unit_labels
    p = np.full(len(m.unit_labels), 0.0)
    p[m.unit_labels.index("medins")] = 0.2
    assert m.predictor_._unit([], p) == (UNKNOWN, 0.0, "none")


def test_work_style_wins_at_exactly_the_threshold(fresh):
    labels = fresh.category_labels
    o = labels.index(OTHER)
    p = np.zeros((1, len(labels)))
    p[0, o] = 0.5
    p[0, (o + 1) % len(labels)] = 0.5
    fresh._ws_threshold = 0.5
    assert fresh._category_choice(p).tolist() == [(o + 1) % len(labels)]


def test_unit_alternatives_come_from_the_unit_head(model):
    alts = model.classify(LETTER).unit_alternatives
    assert len(alts) == 3 and alts[0]["unit"] == "medins"
    assert [a["score"] for a in alts] == sorted((a["score"] for a in alts), reverse=True) and sum(a["score"] for a in alts) <= 1.0001
