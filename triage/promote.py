"""Promote a retrained model only if no head gets worse beyond noise, and swap it in atomically.

The decision is paired: both models classify the same letters, and for each labelled head of each evaluation set
only the letters where exactly one of them is right carry information (``b`` = only the current model right,
``c`` = only the candidate right). Under "no difference" each of those ``b + c`` letters is equally likely to
go either way, so the exact one-sided McNemar test is a binomial test: p = P(Binomial(b + c, 1/2) >= b). A head
**gets worse** when

- the drop is significant: ``b > c`` and p < :data:`ALPHA` (0.05), on any set and head; or
- the accuracy drops by more than :data:`TOLERANCE` (0.5 point), significant or not.

The test alone would let a small set hide a real drop (on 270 test letters, 3 more wrong and none fewer gives
p = 0.125); the tolerance refuses what the set is too small to clear. Refusing costs only a delay (the
corrections stay in the store and the next round has more of them), promoting a worse model misroutes letters,
so the rule is conservative. A candidate that is better nowhere but worse nowhere is promoted.

The real-letter labels were trained on by both models (in-sample): there, accuracy measures how well each model
fits labels it has seen, not how it generalises; a drop still means the candidate contradicts labels people
settled, so it counts the same.
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import paths
from .artifacts import replace_dir
from .errors import DataError
from .io import read_table

#: One-sided significance level of the paired test.
ALPHA = 0.05
#: Largest accuracy drop (as a fraction: 0.005 = 0.5 point) accepted on any set and head.
TOLERANCE = 0.005
HEADS = ("category", "unit")


@dataclass
class EvalSet:
    """Letters with labels for one or both heads (``None`` where a letter is not labelled for a head)."""

    name: str
    texts: list[str]
    labels: dict[str, list[Any]]
    in_sample: bool = False
    note: str = ""
    #: For real-letter labels: the labels file's sha256, matched against each model's training manifest.
    sha256: str | None = None


@dataclass
class HeadResult:
    """One head on one set: both models' accuracy on the same letters and the paired test."""

    set: str
    head: str
    n: int
    current: float
    candidate: float
    current_only: int  # b: letters only the current model gets right
    candidate_only: int  # c: letters only the candidate gets right
    p_worse: float
    in_sample: bool
    worse: bool = False
    reason: str = ""

    @property
    def delta_points(self) -> float:
        return round(100 * (self.candidate - self.current), 2)


@dataclass
class Comparison:
    """Everything the decision rests on; :meth:`to_dict` is what goes into the audit trail."""

    candidate: dict[str, Any]
    current: dict[str, Any]
    results: list[HeadResult]
    alpha: float = ALPHA
    tolerance: float = TOLERANCE
    skipped: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def refusals(self) -> list[HeadResult]:
        return [r for r in self.results if r.worse]

    @property
    def promotable(self) -> bool:
        return bool(self.results) and not self.refusals

    def to_dict(self) -> dict[str, Any]:
        return {"candidate": self.candidate, "current": self.current, "alpha": self.alpha,
                "tolerance_points": round(100 * self.tolerance, 3), "promotable": self.promotable,
                "refused_because": [r.reason for r in self.refusals], "skipped": self.skipped, "notes": self.notes,
                "results": [{**asdict(r), "delta_points": r.delta_points} for r in self.results]}


def _labelled(y: Any) -> bool:
    """A label for this head: not None, NaN or empty."""
    return y is not None and not (isinstance(y, float) and math.isnan(y)) and str(y).strip() != ""


def p_worse(current_only: int, candidate_only: int) -> float:
    """Exact one-sided McNemar p-value that the candidate is worse: P(Binomial(b + c, 1/2) >= b)."""
    m = current_only + candidate_only
    if m == 0:
        return 1.0
    return sum(math.comb(m, k) for k in range(current_only, m + 1)) / 2**m


def judge(r: HeadResult, alpha: float = ALPHA, tolerance: float = TOLERANCE) -> HeadResult:
    """Mark ``r`` worse (with the reason) by the rule in the module docstring."""
    drop = r.current - r.candidate
    where = f"{r.set} {r.head}"
    if r.current_only > r.candidate_only and r.p_worse < alpha:
        r.worse, r.reason = True, (f"{where}: significantly worse ({r.current_only} letters only the current model "
                                   f"gets right, {r.candidate_only} only the candidate; p={r.p_worse:.3g} < {alpha})")
    elif drop > tolerance + 1e-12:
        r.worse, r.reason = True, (f"{where}: accuracy drops {100 * drop:.2f} points, more than the "
                                   f"{100 * tolerance:.2f}-point tolerance")
    return r


def head_results(current: Any, candidate: Any, s: EvalSet) -> list[HeadResult]:
    """Classify the set's letters with both models (``classify_table``) and compare each labelled head."""
    a, b = current.classify_table(s.texts), candidate.classify_table(s.texts)
    usable = a["error"].isna().to_numpy() & b["error"].isna().to_numpy()  # letters both models could classify
    out = []
    for head in HEADS:
        truth = s.labels.get(head)
        if truth is None:
            continue
        rows = [i for i, y in enumerate(truth) if _labelled(y) and usable[i]]
        if not rows:
            continue
        right_a = [str(a[head].iat[i]) == str(truth[i]) for i in rows]
        right_b = [str(b[head].iat[i]) == str(truth[i]) for i in rows]
        only_a = sum(x and not y for x, y in zip(right_a, right_b))
        only_b = sum(y and not x for x, y in zip(right_a, right_b))
        out.append(HeadResult(s.name, head, len(rows), round(sum(right_a) / len(rows), 4),
                              round(sum(right_b) / len(rows), 4), only_a, only_b,
                              round(p_worse(only_a, only_b), 6), s.in_sample))
    return out


def trained_on(model: Any, s: EvalSet) -> bool:
    """Whether ``model`` was trained with the real-letter labels file of ``s`` (by its sha256 in the manifest)."""
    real = ((model.manifest or {}).get("training_data") or {}).get("real_letters") or {}
    return s.sha256 is not None and real.get("sha256") == s.sha256


def in_sample(current: Any, candidate: Any, s: EvalSet) -> EvalSet:
    """``s`` marked in-sample, with a note saying for which model, when a model was trained on its labels."""
    if s.sha256 is None:
        return s
    who = [name for name, m in (("current", current), ("candidate", candidate)) if trained_on(m, s)]
    note = {2: "in-sample: both models were trained on these labels, so the figures show fit to labels seen in "
               "training, not accuracy on new letters",
            1: f"in-sample for the {who[0] if who else ''} model only (it was trained on these labels)",
            0: "neither model's manifest names this labels file (out-of-sample unless its letters are also in "
               "another training file)"
            }[len(who)]
    return EvalSet(s.name, s.texts, s.labels, in_sample=bool(who), note=note, sha256=s.sha256)


def model_info(model: Any, directory: str | Path) -> dict[str, Any]:
    m = model.manifest or {}
    return {"dir": str(directory), "sha256": (m.get("artifact") or {}).get("sha256"),
            "created_at": m.get("created_at"), "git_sha": m.get("git_sha")}


def compare(current: Any, candidate: Any, sets: Sequence[EvalSet], *, current_dir: str | Path = "",
            candidate_dir: str | Path = "", alpha: float = ALPHA, tolerance: float = TOLERANCE,
            skipped: Sequence[str] = ()) -> Comparison:
    """Compare two loaded models on ``sets`` and judge every head (see the module docstring)."""
    sets = [in_sample(current, candidate, s) for s in sets]
    results = [judge(r, alpha, tolerance) for s in sets for r in head_results(current, candidate, s)]
    return Comparison(model_info(candidate, candidate_dir), model_info(current, current_dir), results,
                      alpha, tolerance, list(skipped), {s.name: s.note for s in sets if s.note})


# --- evaluation sets ---------------------------------------------------------------------------------------
def labelled_file_set(path: str | Path, text_col: str = "text") -> EvalSet:
    """A labelled file (``text`` plus ``category`` and/or ``unit``) as an evaluation set named after it."""
    df = read_table(path, required=[text_col])
    labels = {h: df[h].tolist() for h in HEADS if h in df}
    if not labels:
        raise DataError(f"{path} has neither a category nor a unit column; it cannot tell which model is better.")
    return EvalSet(Path(path).stem, df[text_col].astype(str).tolist(), labels)


def real_letter_set(labels_csv: str | Path | None = None) -> EvalSet:
    """The real letters (category labels only), joined with the dataset's texts. :func:`compare` marks them
    in-sample for a model whose manifest names the same labels file (the default training uses it)."""
    import hashlib

    from .real_letters import LABELS_CSV, load_real_letters

    labels_csv = Path(labels_csv or LABELS_CSV)
    letters = load_real_letters(labels_csv)
    return EvalSet("real", letters["text"].tolist(), {"category": letters["category"].tolist()},
                   sha256=hashlib.sha256(labels_csv.read_bytes()).hexdigest())


def default_sets(files: Sequence[str | Path] | None = None, real_labels: str | Path | None = None,
                 real: bool = True) -> tuple[list[EvalSet], list[str]]:
    """The dev and test sets (or ``files``) and the real letters; a set that cannot be read is skipped with a note
    only if it is the real letters (their dataset lives outside the project)."""
    files = files or [paths.DEV_CSV, paths.DATA_DIR / "test.csv"]
    sets = [labelled_file_set(f) for f in files]
    skipped = []
    if real:
        try:
            sets.append(real_letter_set(real_labels))
        except DataError as e:
            skipped.append(f"real letters left out: {e}")
    return sets, skipped


# --- the swap ----------------------------------------------------------------------------------------------
def previous_dir(current: str | Path) -> Path:
    """Where the replaced model is kept for rollback: ``<current>.previous`` beside it."""
    current = Path(current)
    return current.with_name(current.name + ".previous")


def swap_in(candidate: str | Path, current: str | Path, *, expect_sha: str | None = None) -> Path:
    """Copy every file of ``candidate`` into a new sibling of ``current``, check that the copy loads (and has
    ``expect_sha``), then put it in ``current``'s place in one rename; the replaced directory becomes
    ``<current>.previous`` (an older ``.previous`` is removed once the swap succeeded). Returns that path.

    Readers see the old directory or the new one, never a mixture; with ``renameat2`` (Linux) the path
    ``current`` never stops existing, elsewhere it is missing between two renames.
    """
    from . import load_model

    candidate, current = Path(candidate), Path(current)
    previous = previous_dir(current)
    tmp = Path(tempfile.mkdtemp(prefix=f".{current.name}-promote-", dir=current.parent))
    older = None
    try:
        shutil.copytree(candidate, tmp, dirs_exist_ok=True)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700: a service running as another user must read it
        sha = (load_model(tmp).manifest.get("artifact") or {}).get("sha256")
        if expect_sha is not None and sha != expect_sha:
            raise DataError(f"The copy of {candidate} has sha256 {sha}, not {expect_sha}; it changed while being "
                            "promoted. Nothing was replaced; run the promotion again.")
        if previous.exists():  # set aside, removed only after the swap
            older = Path(tempfile.mkdtemp(prefix=f".{previous.name}-", dir=current.parent))
            os.replace(previous, older / "model")
        replaced = replace_dir(tmp, current)
        if replaced is not None:
            os.replace(replaced, previous)
    except BaseException:
        if older is not None and not previous.exists():
            os.replace(older / "model", previous)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if older is not None:
            shutil.rmtree(older, ignore_errors=True)
    return previous


# --- the command's work ------------------------------------------------------------------------------------
@dataclass
class Outcome:
    comparison: Comparison
    decision: str  # promoted | refused | would promote | would refuse
    previous: Path | None = None
    event_id: int | None = None


def promote(candidate_dir: str | Path, current_dir: str | Path | None = None, *, sets: Sequence[EvalSet] | None = None,
            skipped: Sequence[str] = (), dry_run: bool = False, store: Any = None, by: str | None = None,
            alpha: float = ALPHA, tolerance: float = TOLERANCE) -> Outcome:
    """Compare ``candidate_dir`` with ``current_dir`` (default: the default model directory) on ``sets`` (default:
    :func:`default_sets`), replace the current model if no head gets worse (unless ``dry_run``), and append the
    comparison and decision to ``store``'s audit trail (kind ``promotion``) when a store is given and it is not a
    dry run."""
    from . import load_model

    candidate_dir = Path(candidate_dir)
    current_dir = Path(current_dir or paths.default_model_dir())
    if candidate_dir.resolve() == current_dir.resolve():
        raise DataError(f"{candidate_dir} is the current model; promote a model trained elsewhere "
                        "(e.g. `triage train ... --out models/candidate`).")
    if sets is None:
        sets, skipped = default_sets()
    candidate, current = load_model(candidate_dir), load_model(current_dir)
    comparison = compare(current, candidate, sets, current_dir=current_dir, candidate_dir=candidate_dir,
                         alpha=alpha, tolerance=tolerance, skipped=skipped)
    ok = comparison.promotable
    outcome = Outcome(comparison, ("would promote" if ok else "would refuse") if dry_run else
                      ("promoted" if ok else "refused"))
    if ok and not dry_run:
        outcome.previous = swap_in(candidate_dir, current_dir, expect_sha=comparison.candidate["sha256"])
    if store is not None and not dry_run:
        payload = {**comparison.to_dict(), "decision": outcome.decision,
                   "previous_dir": str(outcome.previous) if outcome.previous else None}
        outcome.event_id = store.record_event("promotion", payload, by=by).id
    return outcome


def render(outcome: Outcome) -> str:
    """The comparison as a table, the in-sample note and the decision with its reasons."""
    c = outcome.comparison
    w = max([len(r.set) + 2 for r in c.results] + [10])
    lines = [f"candidate {c.candidate['dir']} (sha256 {str(c.candidate['sha256'])[:12]})",
             f"current   {c.current['dir']} (sha256 {str(c.current['sha256'])[:12]})", "",
             (f"{'set':<{w}}{'head':<10}{'n':>6}{'current':>9}{'candidate':>11}{'Δ points':>10}"
              f"{'only cur':>10}{'only cand':>11}{'p(worse)':>10}  verdict")]
    for r in c.results:
        name = r.set + ("*" if r.in_sample else "")
        lines.append(f"{name:<{w}}{r.head:<10}{r.n:>6}{r.current:>9.4f}{r.candidate:>11.4f}{r.delta_points:>+10.2f}"
                     f"{r.current_only:>10}{r.candidate_only:>11}{r.p_worse:>10.3g}  {'WORSE' if r.worse else 'ok'}")
    lines += [f"{'*' if any(r.in_sample for r in c.results if r.set == name) else ' '} {name}: {note}"
              for name, note in c.notes.items()]
    lines += [f"note: {s}" for s in c.skipped]
    lines.append(f"rule: refuse if any head on any set is worse with one-sided exact McNemar p < {c.alpha} or "
                 f"drops more than {100 * c.tolerance:.2f} accuracy points")
    lines.append(f"decision: {outcome.decision}")
    lines += [f"  - {r.reason}" for r in c.refusals]
    if outcome.previous:
        cur = c.current["dir"]
        lines.append(f"the replaced model is kept in {outcome.previous}; to roll back: mv {cur} {cur}.bad && "
                     f"mv {outcome.previous} {cur}, then reload the service")
    if outcome.event_id is not None:
        lines.append(f"recorded in the audit trail as event {outcome.event_id}")
    return "\n".join(lines)
