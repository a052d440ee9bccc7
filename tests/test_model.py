import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from triage.errors import InputTextError
from triage.model import TriageModel
from triage.registry import UNKNOWN


def test_fit_returns_self_and_learns_the_labels(parts, tiny_csv):
    registry, seg, cats = parts
    df = pd.read_csv(tiny_csv)
    m = TriageModel(segmenter=seg, registry=registry, categories=cats)
    assert m.fit(df.text, df.category, df.unit) is m
    assert set(m.category_labels) == set(df.category)
    assert set(m.unit_labels) == set(df.unit)


def test_unfitted_model_says_how_to_train(parts):
    registry, seg, cats = parts
    with pytest.raises(NotFittedError, match="triage train"):
        TriageModel(segmenter=seg, registry=registry).classify("东坝派出所")


def test_a_string_is_not_a_list_of_texts(parts, model):
    registry, seg, cats = parts
    with pytest.raises(TypeError, match="string object received"):
        TriageModel(segmenter=seg, registry=registry).fit("一封信", ["slow"])
    with pytest.raises(TypeError, match="list of texts"):
        model.classify_many("一封信")


def test_unit_labels_must_be_in_the_registry(parts):
    registry, seg, cats = parts
    with pytest.raises(ValueError, match="not in the registry"):
        TriageModel(segmenter=seg, registry=registry).fit(["甲", "乙"], None, ["police", "mars"])


@pytest.mark.parametrize("bad", ["", "   ", "\n\t"])
def test_empty_text_is_a_clear_error(model, bad):
    with pytest.raises(InputTextError, match="empty"):
        model.classify(bad)


def test_result_fields_are_valid(model):
    p = model.classify("我去东坝镇派出所办户口,等了一上午窗口一直没人,打电话也不接")
    assert p.unit == "police" and p.unit_source == "mention" and p.unit_name == "县公安局"
    assert p.category in model.category_labels and 0.0 <= p.category_score <= 1.0
    assert len(p.alternatives) == 2 and all(a.score <= p.category_score for a in p.alternatives)
    assert p.char and p.name
    d = p.to_dict()
    assert {"category", "char", "name", "category_score", "alternatives", "unit", "unit_name", "unit_score",
            "unit_source", "evidence", "needs_review"} <= set(d)


def test_evidence_offsets_point_into_the_original_text(model):
    text = "  西壩衛生院的醫生把病歷甩我臉上還罵人!!"  # traditional characters and full-width punctuation
    p = model.classify(text)
    assert p.evidence
    for e in p.evidence:
        assert text[e.start : e.end] == e.term
    assert any(e.head == "unit" for e in p.evidence)


def test_village_routes_to_township_and_service_infers_unit(model):
    assert model.classify("红星村村干部把低保名额给了自家亲戚").unit == "dongba"
    p = model.classify("房产证交上去半年了还没办下来")
    assert p.unit_source in ("inferred", "none")


def test_unsure_letters_are_flagged_not_guessed(model):
    p = model.classify("嗯")
    assert p.needs_review and p.review_reasons
    if p.unit_source == "none":
        assert p.unit == UNKNOWN


def test_classify_many_matches_classify(model):
    texts = ["东坝派出所的民警骂人", "医保报销四个月还没到账", "楼上装修太吵"]
    many = model.classify_many(texts)
    assert [p.to_dict() for p in many] == [model.classify(t).to_dict() for t in texts]


@settings(max_examples=500, deadline=None)
@given(scores=st.lists(st.one_of(st.floats(0, 1), st.integers(0, 20000).map(lambda k: k / 20000)), min_size=1, max_size=50))
def test_shown_scores_are_pythons_round(scores):
    from triage.predictor import _rounded

    assert _rounded(np.array(scores)).tolist() == [round(x, 4) for x in scores]
