"""Draw the pool of real messages to label, and write blind labelling batches.

The pool mixes a random draw (the real stream's mix, mostly ``other``) with letters that a keyword
screen ranks most likely to complain about officials' conduct, so that the labelled set holds enough
work-style letters. Only ids and the stratum are written to ``data/real/pool.csv``; the batches with
the texts go to a folder outside the repository (the texts stay in ``../shared``).

    python data/tools/real_pool.py --screened 2300 --random 1100 --batches /tmp/triage-label
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

from triage.real_letters import read_dataset

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT.parent / "shared" / "datasets" / "gov-messages-2020"

# Cues that the writer complains about what officials or public bodies did or failed to do.
# Weighted: 2 for cues that almost always mean conduct, 1 for weaker ones.
STRONG = (
    "推诿|踢皮球|推来推去|互相推|扯皮|不作为|乱作为|敷衍|搪塞|置之不理|不理不睬|不闻不问|不予理睬|"
    "石沉大海|投诉无门|态度恶劣|态度蛮横|态度极差|态度很差|刁难|索要|红包|吃拿卡要|好处费|贪污|挪用|"
    "截留|克扣|优亲厚友|以权谋私|包庇|官僚|形式主义|走过场|摆拍|弄虚作假|暴力执法|乱罚款|辱骂|骂人|"
    "打人|推脱|一拖再拖|久拖不决|拖着不办|不办事|不给办|拒绝办理|不接电话|没人管|无人管|没有人管|"
    "上班时间|玩手机|迟到|早退|打牌|公车私用|腐败|违规|失职|渎职|懒政|庸政|怠政|不负责任|监守自盗"
)
WEAK = (
    "工作人员|干部|村委|村支书|书记|主任|局长|科长|所长|领导|执法人员|城管|街道办|居委会|社区|"
    "多次反映|多次投诉|反映多次|多次向|至今未|至今没有|迟迟|无果|未果|没有回复|没有答复|未回复|"
    "不回复|答复|回复说|12345|市长热线|信访|拖延|拖欠|不处理|没有处理|不管|监管不力|失职"
)
_STRONG = re.compile(STRONG)
_WEAK = re.compile(WEAK)


def read_pool() -> pd.DataFrame:
    """All letters of the dataset as ``id, source, text`` (the same texts training reads)."""
    return read_dataset(DATASET)


def screen_score(text: str) -> float:
    """Keyword-screen score: distinct strong cues count 2, distinct weak cues 1."""
    return 2.0 * len(set(_STRONG.findall(text))) + len(set(_WEAK.findall(text)))


def draw(pool: pd.DataFrame, n_screened: int, n_random: int, seed: int = 0) -> pd.DataFrame:
    """The ``n_screened`` top-scored letters plus ``n_random`` drawn at random from the rest; with ``--rest`` the
    letters left after both are appended (stratum ``rest``), so that the pool becomes the whole board."""
    rng = np.random.default_rng(seed)
    scores = pool["text"].map(screen_score)
    order = np.lexsort((rng.random(len(pool)), -scores.to_numpy()))
    top = pool.iloc[order[:n_screened]].assign(stratum="screened")
    rest = pool.iloc[order[n_screened:]]
    rand = rest.iloc[rng.permutation(len(rest))[:n_random]].assign(stratum="random")
    out = pd.concat([top, rand]).assign(screen_score=scores)
    return out.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def rest_of(pool: pd.DataFrame, drawn: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The letters of ``pool`` not in ``drawn``, shuffled, as stratum ``rest``."""
    rest = pool[~pool["id"].isin(drawn["id"])].assign(stratum="rest", screen_score=lambda d: d["text"].map(screen_score))
    return rest.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def clip(text: str, head: int = 1100, tail: int = 400) -> str:
    """What a labeller reads: the whole letter, or its head and tail when it is very long."""
    if len(text) <= head + tail + 100:
        return text
    return f"{text[:head]}……[中间省略{len(text) - head - tail}字]……{text[-tail:]}"


def write_batches(drawn: pd.DataFrame, folder: Path, size: int, first: int = 0) -> None:
    """Write numbered batch files of ``size`` letters each, from number ``first``: one block per letter, id first."""
    folder.mkdir(parents=True, exist_ok=True)
    for b, start in enumerate(range(0, len(drawn), size), start=first):
        chunk = drawn.iloc[start : start + size]
        blocks = [f"### {row.id}\n{clip(row.text)}\n" for row in chunk.itertuples()]
        (folder / f"batch_{b:03d}.txt").write_text("\n".join(blocks), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--screened", type=int, default=2300)
    parser.add_argument("--random", type=int, default=1100)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--batches", type=Path, help="folder for the labelling batches (outside the repo)")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "real" / "pool.csv")
    parser.add_argument("--rest", action="store_true",
                        help="append every letter not drawn (stratum rest); batches continue the numbering")
    args = parser.parse_args()
    pool = read_pool()
    drawn = draw(pool, args.screened, args.random)
    first_batch = 0
    if args.rest:
        first_batch = -(-len(drawn) // args.batch_size)
        rest = rest_of(pool, drawn)
        drawn = pd.concat([drawn, rest], ignore_index=True)
    drawn[["id", "source", "stratum", "screen_score"]].to_csv(args.out, index=False)
    print(drawn.groupby("stratum").size().to_string())
    if args.batches:
        write_batches(drawn.iloc[first_batch * args.batch_size :], args.batches, args.batch_size, first_batch)


if __name__ == "__main__":
    main()
