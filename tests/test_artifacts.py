import json
import os
import shutil

import pytest

from triage import load_model
from triage.artifacts import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    combined_sha256,
    read_manifest,
    sha256_file,
)

WEIGHTS = "arrays/text_weights.npy"
from triage.errors import ModelIntegrityError, ModelNotFoundError


@pytest.fixture
def copy(trained_dir, tmp_path):
    dst = tmp_path / "m"
    shutil.copytree(trained_dir, dst)
    return dst


def test_round_trip_keeps_predictions_and_manifest(trained_dir, model):
    again = load_model(trained_dir)
    text = "东坝派出所的民警骂人"
    assert again.classify(text).to_dict() == model.classify(text).to_dict()
    m = read_manifest(trained_dir)
    assert m["format_version"] == FORMAT_VERSION
    files = m["artifact"]["files"]
    assert all(files[name]["sha256"] == sha256_file(trained_dir / name) for name in files)
    assert m["artifact"]["sha256"] == combined_sha256(files) and "model.json" in files and WEIGHTS in files
    assert m["training_data"]["rows"] == 36 and len(m["training_data"]["sha256"]) == 64
    assert set(m["labels"]["category"]) >= {"slow", "other"} and "police" in m["labels"]["unit"]
    assert {"python", "scikit-learn", "numpy", "rjieba"} <= set(m["versions"])
    assert m["created_at"]


def test_tampered_model_file_is_refused(copy):
    with open(copy / WEIGHTS, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelIntegrityError, match="does not match the sha256"):
        load_model(copy)


def test_truncated_model_file_is_refused(copy):
    path = copy / WEIGHTS
    os.truncate(path, path.stat().st_size // 2)
    with pytest.raises(ModelIntegrityError, match="retrain|Restore"):
        load_model(copy)


def test_missing_manifest_is_refused(copy):
    (copy / MANIFEST_FILE).unlink()
    with pytest.raises(ModelIntegrityError, match="cannot be verified"):
        load_model(copy)


def test_edited_manifest_is_refused(copy):
    m = json.loads((copy / MANIFEST_FILE).read_text())
    m["artifact"]["sha256"] = "0" * 64
    (copy / MANIFEST_FILE).write_text(json.dumps(m))
    with pytest.raises(ModelIntegrityError):
        load_model(copy)
    (copy / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(ModelIntegrityError, match="not valid JSON"):
        load_model(copy)


def test_other_format_version_is_refused(copy):
    m = json.loads((copy / MANIFEST_FILE).read_text())
    m["format_version"] = FORMAT_VERSION + 1
    (copy / MANIFEST_FILE).write_text(json.dumps(m))
    with pytest.raises(ModelIntegrityError, match="format version"):
        load_model(copy)


def test_missing_directory_says_how_to_train(tmp_path):
    with pytest.raises(ModelNotFoundError, match="triage train"):
        load_model(tmp_path / "nowhere")


def test_a_model_swapped_in_while_it_loads_is_loaded_whole(trained_dir, tmp_path, monkeypatch):
    """``triage promote`` renames a new model into place; a load that straddles it starts over on the new one."""
    import numpy as np

    import triage.artifacts as artifacts
    from triage.artifacts import save

    current, new = tmp_path / "current", tmp_path / "new"
    shutil.copytree(trained_dir, current)
    changed = load_model(trained_dir)
    changed.heads.category.intercept = changed.heads.category.intercept + 0.001
    save(changed, new, {"note": "the candidate"})
    real, swapped = artifacts._read_array, []

    def read_then_swap(path, entry, directory):
        if not swapped:  # the first array is read from the old model, the rest from the new one
            swapped.append(True)
            out = real(path, entry, directory)
            os.replace(current, tmp_path / "old")
            os.replace(new, current)
            return out
        return real(path, entry, directory)

    monkeypatch.setattr(artifacts, "_read_array", read_then_swap)
    loaded = load_model(current)
    assert loaded.manifest["note"] == "the candidate"
    np.testing.assert_array_equal(loaded.heads.category.intercept, changed.heads.category.intercept)


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_saving_over_a_model_replaces_it_whole_and_leaves_nothing_behind(trained_dir, tmp_path, monkeypatch,
                                                                         exchange):
    import triage.artifacts as artifacts
    from triage.artifacts import save

    if not exchange:
        monkeypatch.setattr(artifacts, "_exchange", lambda a, b: False)
    target = tmp_path / "m"
    shutil.copytree(trained_dir, target)
    (target / "stale.txt").write_text("from the old model")
    model = load_model(trained_dir)
    save(model, target, {"note": "second"})
    assert read_manifest(target)["note"] == "second" and not (target / "stale.txt").exists()
    assert load_model(target).classify("东坝派出所的民警骂人").to_dict() == model.classify("东坝派出所的民警骂人").to_dict()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary or old directory left
