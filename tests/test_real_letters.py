"""Real letters labelled by id: joined with a dataset's texts at training time, never stored with the labels."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from triage.errors import DataError
from triage.evaluate import cv_splits, work_style_scores
from triage.near_duplicates import near_duplicate_groups
from triage.real_letters import load_real_letters, read_dataset
from triage.train import load_training_data, train_and_save

# Letters written for these tests (the real dataset's texts never enter the repository).
LETTERS = {
    "m1": "小区门口的烧烤摊每天晚上油烟很大，希望有关部门管一管",
    "m2": "多次向街道办反映楼道漏水，工作人员说不归他们管，让我们找物业，物业又让找街道",
    "m3": "开发商延期交房一年了，合同约定的违约金一直不给",
}
BOARD = [("u1", "社保窗口推来推去", "去社保局办退休，窗口让我去街道开证明，街道说不用开，又回社保局，来回跑了五趟"),
         ("u2", "咨询公积金提取", "请问异地购房公积金怎么提取，需要哪些材料")]


@pytest.fixture
def dataset(tmp_path):
    folder = tmp_path / "gov"
    folder.mkdir()
    pd.DataFrame({"id": list(LETTERS), "text": list(LETTERS.values()), "label": "x"}).to_csv(
        folder / "messages.csv", index=False)
    pd.DataFrame([{"id": i, "title": t, "text": b, "submitted_at": "", "likes": 0, "dislikes": 0} for i, t, b in BOARD]
                 ).to_csv(folder / "unlabelled.csv", index=False)
    return folder


@pytest.fixture
def labels(tmp_path):
    path = tmp_path / "labels.csv"
    pd.DataFrame({"id": ["m1", "m2", "m3", "u1", "u2"], "source": "x", "stratum": "random",
                  "category": ["other", "shirking", "other", "shirking", "other"]}).to_csv(path, index=False)
    return path


def test_labels_are_joined_with_the_texts_by_id(dataset, labels):
    letters = load_real_letters(labels, dataset)
    assert letters["id"].tolist() == ["m1", "m2", "m3", "u1", "u2"]
    assert letters.set_index("id").at["m2", "text"] == LETTERS["m2"]
    assert letters.set_index("id").at["u1", "text"] == "社保窗口推来推去。" + BOARD[0][2]  # title。body
    assert read_dataset(dataset)["source"].tolist() == ["messages.csv"] * 3 + ["unlabelled.csv"] * 2


def test_a_missing_dataset_or_id_is_a_clear_error(tmp_path, dataset, labels):
    with pytest.raises(DataError, match="TRIAGE_REAL_DATASET"):
        load_real_letters(labels, tmp_path / "nowhere")
    pd.DataFrame({"id": ["m9"], "category": ["other"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="another version"):
        load_real_letters(tmp_path / "bad.csv", dataset)


def test_training_adds_the_real_letters_for_the_category_head_only(tmp_path, tiny_csv, dataset, labels):
    manifest = train_and_save([tiny_csv], tmp_path / "m", cv=0, real_labels=labels, real_dataset=dataset)
    tiny_rows = len(pd.read_csv(tiny_csv))
    assert manifest["training_data"]["rows"] == tiny_rows + 5
    assert manifest["training_data"]["real_letters"]["rows"] == 5
    without = train_and_save([tiny_csv], tmp_path / "n", cv=0)
    assert manifest["training_data"]["sha256"] != without["training_data"]["sha256"]


def test_training_without_the_dataset_says_what_it_left_out(tmp_path, tiny_csv, labels):
    manifest = train_and_save([tiny_csv], tmp_path / "m", cv=0, real_labels=labels, real_dataset=tmp_path / "none")
    real = manifest["training_data"]["real_letters"]
    assert real["rows"] == 0 and "not at" in real["left_out"]
    assert manifest["training_data"]["rows"] == len(pd.read_csv(tiny_csv))


def test_cli_train_prints_the_left_out_line(tmp_path, tiny_csv, labels, monkeypatch, capsys):
    from triage.cli import main

    monkeypatch.setenv("TRIAGE_REAL_DATASET", str(tmp_path / "none"))
    code = main(["train", "--data", str(tiny_csv), "--real-labels", str(labels), "--cv", "0",
                 "--out", str(tmp_path / "m")])
    out = capsys.readouterr().out
    assert code == 0 and "left out the real letters" in out


def test_rows_with_one_label_are_kept(tmp_path):
    path = tmp_path / "mixed.csv"
    pd.DataFrame({"text": ["甲乙丙丁" + str(i) for i in range(12)],
                  "category": ["slow", None] * 6, "unit": [None, "police"] * 6}).to_csv(path, index=False)
    data = load_training_data([path])
    assert len(data.frame) == 12 and data.frame["category"].isna().sum() == 6


def test_near_duplicates_share_a_group_and_others_do_not():
    texts = [LETTERS["m2"], LETTERS["m2"] + "！", LETTERS["m1"], LETTERS["m3"]]
    groups = near_duplicate_groups(texts, 0.8)
    assert groups[0] == groups[1] and len({groups[0], groups[2], groups[3]}) == 3


def test_grouped_splits_never_split_a_group():
    df = pd.DataFrame({"category": ["a", "b"] * 20})
    groups = np.repeat(np.arange(10), 4)
    for train, test in cv_splits(df, "category", 5, groups):
        assert not set(groups[train]) & set(groups[test])


def test_work_style_scores():
    s = work_style_scores(["other", "slow", "lazy", "other"], ["slow", "slow", "other", "other"])
    assert (s["precision"], s["recall"], s["right_of_eight"]) == (0.5, 0.5, 0.5)
    assert s["confusion"]["matrix"] == [[1, 1], [1, 1]]


def test_scores_by_origin_report_the_review_flag_on_real_letters():
    from types import SimpleNamespace

    from triage.evaluate import score_by_origin

    frame = pd.DataFrame({"category": ["other", "slow", "other", "lazy"], "origin": ["real"] * 4})
    preds = [SimpleNamespace(category="other", category_score=0.9, unit_score=0.9, needs_review=False),
             SimpleNamespace(category="other", category_score=0.4, unit_score=0.9, needs_review=True),
             SimpleNamespace(category="other", category_score=0.9, unit_score=0.1, needs_review=True),
             SimpleNamespace(category="lazy", category_score=0.8, unit_score=0.9, needs_review=False)]
    real = score_by_origin(preds, frame, {"category": 0.5, "unit": 0.5})["real"]
    assert real["category_flag"]["flagged_share"] == 0.25 and real["category_flag"]["unflagged_accuracy"] == 1.0
    assert real["review_flag"]["flagged_share"] == 0.5 and real["review_flag"]["unflagged_accuracy"] == 1.0
    assert real["work_style"]["recall"] == 0.5 and real["work_style"]["precision"] == 1.0
