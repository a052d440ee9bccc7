import io
import json

import pandas as pd
import pytest

from triage.cli import main


@pytest.fixture(scope="module")
def gbk_model(tmp_path_factory, tiny_csv):
    """Train through the CLI from a GBK-encoded copy of the tiny corpus."""
    d = tmp_path_factory.mktemp("cli")
    src = d / "tiny_gbk.csv"
    pd.read_csv(tiny_csv).to_csv(src, index=False, encoding="gbk")
    out = d / "model"
    assert main(["train", "--data", str(src), "--out", str(out), "--cv", "0"]) == 0
    return out


def test_train_from_gbk_and_classify(gbk_model, capsys):
    capsys.readouterr()
    assert main(["classify", "我去东坝镇派出所办户口,等了一上午窗口一直没人,打电话也不接", "--model", str(gbk_model)]) == 0
    out = capsys.readouterr().out
    assert "unit: police" in out and "category:" in out


def test_train_from_bom_csv_with_other_column_names_and_one_head(tmp_path, tiny_csv, capsys):
    src = tmp_path / "bom.csv"
    pd.read_csv(tiny_csv).rename(columns={"text": "内容", "category": "类别"}).drop(columns="unit").to_csv(
        src, index=False, encoding="utf-8-sig"
    )
    out = tmp_path / "m"
    assert main(["train", "--data", str(src), "--text-col", "内容", "--category-col", "类别", "--unit-col", "", "--out", str(out), "--cv", "0"]) == 0
    capsys.readouterr()
    assert main(["info", "--model", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["labels"]["unit"] == [] and "slow" in info["labels"]["category"]


def test_classify_json_and_stdin(gbk_model, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("东坝派出所民警骂人\n医保报销三个月没到账\n"))
    capsys.readouterr()
    assert main(["classify", "-", "--json", "--model", str(gbk_model)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and lines[0]["unit"] == "police" and "category_score" in lines[1]


def test_classify_empty_text_is_a_clear_error(gbk_model, capsys):
    capsys.readouterr()
    assert main(["classify", "   ", "--model", str(gbk_model)]) == 1
    assert "empty" in capsys.readouterr().err


def test_evaluate_prints_scores_and_confusion(gbk_model, tiny_csv, capsys):
    capsys.readouterr()
    assert main(["evaluate", "--data", str(tiny_csv), "--model", str(gbk_model), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert 0 <= r["category"]["macro_f1"] <= 1 and r["unit"]["n"] == 36
    assert len(r["category"]["confusion"]["matrix"]) == len(r["category"]["confusion"]["labels"])
    assert main(["evaluate", "--data", str(tiny_csv), "--model", str(gbk_model)]) == 0
    assert "confusion" in capsys.readouterr().out


def test_evaluate_cross_validation(tmp_path, tiny_csv, capsys):
    big = tmp_path / "t.csv"
    pd.concat([pd.read_csv(tiny_csv)] * 2).to_csv(big, index=False)
    capsys.readouterr()
    assert main(["evaluate", "--cv", "3", "--data", str(big), "--unit-col", "", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["folds"] == 3 and r["category"]["n"] == 72 and r["seconds"] > 0


def test_info_and_missing_model(gbk_model, tmp_path, capsys):
    capsys.readouterr()
    assert main(["info", "--model", str(gbk_model)]) == 0
    out = capsys.readouterr().out
    assert "sha256" in out and "artifact: json+npy, " in out and "None" not in out
    from triage.kernels import KERNELS, segment_compiled

    assert f"inner loops: {KERNELS}" in out
    assert ("batch segmentation: compiled" in out) == (segment_compiled is not None)
    assert main(["classify", "x", "--model", str(tmp_path / "none")]) == 1
    assert "triage train" in capsys.readouterr().err


def test_missing_label_columns_are_explained(tmp_path, capsys):
    src = tmp_path / "x.csv"
    pd.DataFrame({"text": ["a"] * 12}).to_csv(src, index=False)
    assert main(["train", "--data", str(src), "--out", str(tmp_path / "m")]) == 1
    assert "no label column" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "train" in capsys.readouterr().out
