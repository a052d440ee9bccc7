"""triage promote: a worse candidate is refused and nothing changes; an equal or better one is swapped in whole."""
from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from triage import ModelIntegrityError, load_model, paths
from triage.cli import main
from triage.promote import (
    EvalSet,
    HeadResult,
    in_sample,
    judge,
    labelled_file_set,
    p_worse,
    promote,
    swap_in,
)
from triage.train import train_and_save

TRAIN_ROWS = 600


def files_of(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` with its sha256: the model directory as a whole, whatever its layout."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def sha(directory: Path) -> str:
    return load_model(directory).manifest["artifact"]["sha256"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Two small models from the same slice of data/train.csv: one on its labels, one on shuffled labels."""
    root = tmp_path_factory.mktemp("promote")
    df = pd.read_csv(paths.TRAIN_CSV, dtype=str, keep_default_na=False)
    part = df.sample(TRAIN_ROWS, random_state=7)[["text", "category", "unit"]]
    part.to_csv(root / "good.csv", index=False)
    rng = np.random.default_rng(7)
    shuffled = part.assign(category=rng.permutation(part["category"].to_numpy()),
                           unit=rng.permutation(part["unit"].to_numpy()))
    shuffled.to_csv(root / "bad.csv", index=False)
    out = {}
    for name in ("good", "bad"):
        train_and_save([root / f"{name}.csv"], root / name, cv=0)
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def dev_sets(tmp_path_factory) -> list[EvalSet]:
    path = tmp_path_factory.mktemp("sets") / "dev_part.csv"
    pd.read_csv(paths.DEV_CSV, dtype=str, keep_default_na=False).head(200).to_csv(path, index=False)
    return [labelled_file_set(path)]


def install(src: Path, tmp_path: Path) -> Path:
    current = tmp_path / "models" / "default"
    shutil.copytree(src, current)
    return current


def test_a_worse_candidate_is_refused_and_the_current_files_are_untouched(models, dev_sets, tmp_path):
    current = install(models["good"], tmp_path)
    before = files_of(current)
    outcome = promote(models["bad"], current, sets=dev_sets)
    assert outcome.decision == "refused"
    worse = {(r.set, r.head) for r in outcome.comparison.refusals}
    assert ("dev_part", "category") in worse and ("dev_part", "unit") in worse
    cat = next(r for r in outcome.comparison.results if r.head == "category")
    assert cat.current_only > cat.candidate_only and cat.p_worse < 0.05
    assert files_of(current) == before
    assert sorted(p.name for p in current.parent.iterdir()) == ["default"]  # no .previous, no temp directory


def test_a_better_candidate_is_promoted_whole_and_the_old_one_kept(models, dev_sets, tmp_path):
    current = install(models["bad"], tmp_path)
    outcome = promote(models["good"], current, sets=dev_sets)
    assert outcome.decision == "promoted" and not outcome.comparison.refusals
    assert files_of(current) == files_of(models["good"]) and sha(current) == sha(models["good"])
    assert outcome.previous == current.with_name("default.previous")
    assert files_of(outcome.previous) == files_of(models["bad"])
    assert sorted(p.name for p in current.parent.iterdir()) == ["default", "default.previous"]


def test_an_equal_candidate_is_promoted_and_an_older_previous_replaced(models, dev_sets, tmp_path):
    current = install(models["good"], tmp_path)
    shutil.copytree(models["bad"], current.with_name("default.previous"))
    outcome = promote(models["good"], current, sets=dev_sets)
    assert outcome.decision == "promoted"
    assert all(r.current_only == r.candidate_only == 0 and r.p_worse == 1.0 for r in outcome.comparison.results)
    assert files_of(current.with_name("default.previous")) == files_of(models["good"])


def test_readers_see_the_old_model_or_the_new_one_during_the_swap(models, tmp_path):
    """The path never goes missing and a load never mixes the two: it gives one model whole, or - when its files
    were swapped between two reads - the loader's hash check refuses it (a retry then gets the new model)."""
    current = install(models["bad"], tmp_path)
    shas, errors, done = set(), [], threading.Event()

    def reader():
        while not done.is_set():
            try:
                shas.add(sha(current))
            except ModelIntegrityError:
                pass
            except Exception as e:  # noqa: BLE001 - any other failure (e.g. no such directory) is what we look for
                errors.append(e)

    t = threading.Thread(target=reader)
    t.start()
    try:
        swap_in(models["good"], current)
        swap_in(models["bad"], current)
    finally:
        done.set()
        t.join()
    assert not errors and shas <= {sha(models["good"]), sha(models["bad"])}


def test_without_renameat2_two_renames_do_the_swap(models, tmp_path, monkeypatch):
    import triage.artifacts

    monkeypatch.setattr(triage.artifacts, "_exchange", lambda a, b: False)  # the swap is artifacts.replace_dir
    current = install(models["bad"], tmp_path)
    swap_in(models["good"], current)
    assert files_of(current) == files_of(models["good"])
    assert files_of(current.with_name("default.previous")) == files_of(models["bad"])


def test_the_comparison_goes_to_the_audit_trail(models, dev_sets, tmp_path):
    from triage.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'desk.db'}")
    current = install(models["good"], tmp_path)
    refused = promote(models["bad"], current, sets=dev_sets, store=store, by="admin1")
    promote(models["bad"], current, sets=dev_sets, store=store, dry_run=True)  # a dry run records nothing
    promoted = promote(models["good"], current, sets=dev_sets, store=store, by="admin1")
    events = store.events(kind="promotion")
    store.close()
    assert [e.id for e in events] == [refused.event_id, promoted.event_id]
    first, second = (e.payload for e in events)
    assert events[0].by == "admin1" and first["decision"] == "refused" and second["decision"] == "promoted"
    assert first["candidate"]["sha256"] == sha(models["bad"]) and first["current"]["sha256"] == sha(models["good"])
    assert first["refused_because"] and {r["head"] for r in first["results"]} == {"category", "unit"}
    assert second["previous_dir"].endswith("default.previous")


def test_cli_dry_run_says_what_it_would_do_and_changes_nothing(models, tmp_path, capsys):
    current = install(models["good"], tmp_path)
    before = files_of(current)
    dev = tmp_path / "dev_part.csv"
    pd.read_csv(paths.DEV_CSV, dtype=str, keep_default_na=False).head(150).to_csv(dev, index=False)
    args = ["--current", str(current), "--data", str(dev), "--no-real", "--dry-run"]
    assert main(["promote", str(models["bad"]), *args]) == 1
    out = capsys.readouterr().out
    assert "would refuse" in out and "WORSE" in out and "dev_part" in out
    assert main(["promote", str(models["good"]), *args]) == 0
    assert "would promote" in capsys.readouterr().out
    assert files_of(current) == before and not current.with_name("default.previous").exists()
    assert main(["promote", str(current), "--current", str(current), "--no-real"]) == 1  # itself: refused


@pytest.mark.parametrize("b,c", [(0, 0), (3, 0), (5, 5), (12, 4), (4, 12), (30, 17)])
def test_p_worse_is_the_exact_one_sided_mcnemar_test(b, c):
    from scipy.stats import binomtest

    expected = 1.0 if b + c == 0 else binomtest(b, b + c, 0.5, alternative="greater").pvalue
    assert p_worse(b, c) == pytest.approx(expected, rel=1e-9)


def test_the_tolerance_refuses_what_a_small_set_cannot_clear():
    small = judge(HeadResult("test", "unit", 270, 0.9, 0.8889, 3, 0, p_worse(3, 0), False))
    assert small.p_worse == 0.125 and small.worse and "tolerance" in small.reason
    noise = judge(HeadResult("dev", "category", 1000, 0.9, 0.899, 6, 5, p_worse(6, 5), False))
    assert not noise.worse
    big = judge(HeadResult("real", "category", 6000, 0.9, 0.8967, 40, 20, p_worse(40, 20), True), tolerance=0.01)
    assert big.worse and "significantly" in big.reason  # 0.33 points, under the tolerance, but not noise


def test_real_letters_are_marked_in_sample_for_the_models_trained_on_their_labels_file():
    from types import SimpleNamespace

    def trained(sha):  # only the manifest is read
        return SimpleNamespace(manifest={"training_data": {"real_letters": {"sha256": sha}}})

    s = EvalSet("real", ["信"], {"category": ["slow"]}, sha256="abc")
    assert in_sample(trained("abc"), trained("abc"), s).in_sample
    assert "current model only" in in_sample(trained("abc"), trained("xyz"), s).note
    out = in_sample(trained("xyz"), SimpleNamespace(manifest={}), s)
    assert not out.in_sample and "neither" in out.note
    assert not in_sample(trained("abc"), trained("abc"), EvalSet("dev", ["信"], {})).in_sample  # not real letters
