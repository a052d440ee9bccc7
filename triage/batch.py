"""Batch labelling of whole files: stream chunks through :meth:`Predictor.classify_table`, never drop a row.

:func:`label_frame` labels one chunk; :func:`label_file` streams a file through it on one process, a pool of
processes (``jobs``) or a ``dask.distributed`` cluster (``engine="dask"``) and writes the result atomically.
Memory is bounded by the chunks in flight: about ``(2 * jobs + 1) * chunksize`` rows, whatever the file size.
"""
from __future__ import annotations

import ctypes
import gc
import logging
import math
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import DataError
from .io import (
    READ_ERROR,
    ChunkReader,
    ChunkWriter,
    atomic_output,
    check_columns,
    file_format,
)
from .prediction import TABLE_COLUMNS
from .predictor import Predictor

log = logging.getLogger(__name__)

#: Columns appended to every input row, in this order.
RESULT_COLUMNS = TABLE_COLUMNS
_FLOAT_COLUMNS = {"category_score", "unit_score"}
#: Prefix given to an input column whose name clashes with a result column (e.g. re-labelling train.csv).
INPUT_PREFIX = "input_"
ENGINES = ("local", "dask")
_BAD_BYTES = "\ufffd"
_UNREADABLE = "text holds bytes that are not valid in the file's encoding; re-save the file as UTF-8"
_PLUGIN_NAME = "triage-model"


# --- one chunk ---------------------------------------------------------------------------------------------
def label_frame(model: Predictor, df: pd.DataFrame, text_cols: Sequence[str] = ("text",)) -> pd.DataFrame:
    """Return ``df`` with the result columns appended, one output row per input row, in order.

    Rows whose text is missing, empty, too long or holds undecodable bytes get ``error`` and no label; the
    other rows are classified in one :meth:`~triage.predictor.Predictor.classify_table` call. An input column
    named like a result column is kept as ``input_<name>``.
    """
    df, texts, errors = _prepare(df, text_cols)
    return _attach(df, label_texts(model, texts, errors))


def label_texts(model: Predictor, texts: list[str], errors: list[str | None]) -> pd.DataFrame:
    """The result columns for ``texts``; a text with an ``errors`` entry, or that the model refuses, gets an error."""
    table = model.classify_table([t if e is None else None for t, e in zip(texts, errors)])
    known = [i for i, e in enumerate(errors) if e is not None]
    if known:
        table.loc[known, "error"] = [errors[i] for i in known]
    return table


def _prepare(df: pd.DataFrame, text_cols: Sequence[str]) -> tuple[pd.DataFrame, list[str], list[str | None]]:
    """The chunk without the reader's bookkeeping column, each row's text, and read errors found so far."""
    df = df.reset_index(drop=True)
    read_errors = df.pop(READ_ERROR).tolist() if READ_ERROR in df.columns else [None] * len(df)
    check_columns(df, text_cols)
    texts, errors = _texts(df, text_cols, read_errors)
    return df, texts, errors


def _attach(df: pd.DataFrame, result: pd.DataFrame) -> pd.DataFrame:
    clashes = {c: f"{INPUT_PREFIX}{c}" for c in df.columns if c in RESULT_COLUMNS}
    return pd.concat([df.rename(columns=clashes), result], axis=1)


def _texts(df: pd.DataFrame, text_cols: Sequence[str], read_errors: list) -> tuple[list[str], list[str | None]]:
    """The text of each row (several columns joined by a newline) and why it cannot be read, if so.

    Empty and over-long texts are left to the model, which reports them per row.
    """
    columns = [[v if isinstance(v, str) else "" if _missing(v) else str(v) for v in df[c].tolist()] for c in text_cols]
    texts = columns[0] if len(columns) == 1 else ["\n".join(filter(None, parts)) for parts in zip(*columns)]
    errors = [
        read_error or (_UNREADABLE if _BAD_BYTES in text else None) for text, read_error in zip(texts, read_errors)
    ]
    return texts, errors


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


# --- summary -----------------------------------------------------------------------------------------------
@dataclass
class BatchSummary:
    """What a batch run did. ``error_rows`` names at most 20 failed rows by id (or 1-based row number)."""

    input: str
    output: str
    rows: int = 0
    errors: int = 0
    needs_review: int = 0
    by_category: Counter = field(default_factory=Counter)
    by_unit: Counter = field(default_factory=Counter)
    names: dict[str, str] = field(default_factory=dict)
    error_rows: list[str] = field(default_factory=list)
    renamed_columns: list[str] = field(default_factory=list)
    truncated_cells: int = 0
    unread_sheets: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, out: pd.DataFrame, id_col: str | None) -> None:
        labelled = out[out["error"].isna()]
        self.by_category.update(labelled["category"].tolist())
        self.by_unit.update(labelled["unit"].tolist())
        self.names.update(zip(labelled["category"], labelled["category_name"]))
        self.names.update(zip(labelled["unit"], labelled["unit_name"]))
        self.needs_review += int(labelled["needs_review"].sum())
        failed = out.index[out["error"].notna()]
        self.errors += len(failed)
        for i in failed[: max(20 - len(self.error_rows), 0)]:
            self.error_rows.append(str(out.at[i, id_col]) if id_col else str(self.rows + i + 1))
        self.rows += len(out)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["by_category"], d["by_unit"] = dict(self.by_category.most_common()), dict(self.by_unit.most_common())
        d["rows_per_second"] = round(self.rows_per_second, 1)
        return d

    def render(self) -> str:
        """A few lines for a terminal: no complaint text, only counts and ids."""
        lines = [
            f"labelled {self.rows:,} rows in {self.seconds:.1f}s ({self.rows_per_second:,.0f} rows/s) → {self.output}",
            f"errors: {self.errors:,}" + (f" (rows {', '.join(self.error_rows)}{' …' if self.errors > len(self.error_rows) else ''})" if self.errors else ""),
            f"needs review: {self.needs_review:,} ({self.needs_review / max(self.rows - self.errors, 1):.0%} of labelled rows)",
        ]
        for title, counts in (("by category", self.by_category), ("by unit", self.by_unit)):
            lines.append(f"{title}:")
            lines.extend(f"  {k:<14}{self.names.get(k, ''):<16}{n:>9,}" for k, n in counts.most_common())
        if self.renamed_columns:
            lines.append(f"input columns kept under new names: {', '.join(self.renamed_columns)}")
        if self.unread_sheets:
            lines.append(f"sheets NOT read: {', '.join(self.unread_sheets)} (label each with --sheet NAME)")
        if self.truncated_cells:
            lines.append(f"{self.truncated_cells} cell(s) cut to Excel's 32,767-character limit; write CSV to keep them whole")
        return "\n".join(lines)


# --- a whole file ------------------------------------------------------------------------------------------
def label_file(
    input_path: str | Path,
    output_path: str | Path,
    *,
    model: Predictor,
    text_cols: Sequence[str] = ("text",),
    id_col: str | None = None,
    chunksize: int = 2000,
    jobs: int | None = 1,
    engine: str = "local",
    scheduler: Any = None,
    progress: bool = False,
    sheet: str | None = None,
) -> BatchSummary:
    """Label every row of ``input_path`` and write ``output_path`` (format from its extension).

    Parameters
    ----------
    model : Predictor
        A loaded model (:func:`triage.load_model`).
    text_cols : sequence of str
        Column(s) holding the text; several are joined with a newline (e.g. title and body).
    id_col : str, optional
        Column naming rows in the summary's list of failed rows.
    chunksize : int
        Rows read, classified and written at a time.
    jobs : int or None
        Worker processes (``local``) or LocalCluster workers (``dask`` without ``scheduler``); ``None``: one per
        usable core (:func:`usable_cores`). A file of one chunk is labelled in this process whatever ``jobs`` says:
        starting workers would cost more than they save.
    engine : {"local", "dask"}
        ``dask`` runs :func:`label_frame` over a Dask DataFrame on a ``dask.distributed`` cluster.
    scheduler : str or distributed.Client, optional
        Scheduler address (``tcp://host:8786``) or a client; default: a LocalCluster started for this run.
    progress : bool
        Show a tqdm progress bar (rows/s and ETA) on stderr.
    sheet : str, optional
        The XLSX sheet to label (default: the first; the summary names the sheets left unread).

    Returns
    -------
    BatchSummary
    """
    t0 = time.perf_counter()
    text_cols = [text_cols] if isinstance(text_cols, str) else list(text_cols)
    if not text_cols:
        raise DataError("Name at least one text column with --text-col.")
    if engine not in ENGINES:
        raise DataError(f"Unknown engine {engine!r}; use one of {', '.join(ENGINES)}.")
    jobs = usable_cores() if jobs is None else jobs
    if jobs < 1 or chunksize < 1:
        raise DataError(f"jobs and chunksize must be at least 1; got jobs={jobs}, chunksize={chunksize}.")
    out_format = file_format(output_path)
    reader = ChunkReader(input_path, chunksize, sheet=sheet)
    summary = BatchSummary(input=str(input_path), output=str(output_path))
    columns: list[str] = []
    chunks = _checked(reader, [*text_cols, *([id_col] if id_col else [])], columns)
    if engine == "dask":
        labelled = _run_dask(chunks, model, text_cols, jobs, scheduler)
    else:
        chunks, several = _peek_two(chunks)
        if several:  # a file of more than one chunk: worth every table (and shared by forked workers)
            model.build_lookup_tables()
        labelled = (_run_pool(chunks, model, text_cols, jobs) if several and jobs > 1
                    else (label_frame(model, c, text_cols) for c in chunks))
    with atomic_output(output_path, [input_path]) as tmp, _Progress(reader, progress) as bar:
        writer = ChunkWriter(tmp, out_format, _arrow_types(reader))
        try:
            for out in labelled:
                summary.add(out, id_col)
                writer.write(out)
                bar.update(len(out))
            writer.close()
        except BaseException:
            writer.abort()
            raise
        finally:
            labelled.close()  # stops worker processes or the cluster at once on failure
    summary.renamed_columns = [f"{c} → {INPUT_PREFIX}{c}" for c in columns if c in RESULT_COLUMNS]
    summary.truncated_cells = writer.truncated_cells
    summary.unread_sheets = reader.other_sheets
    summary.seconds = time.perf_counter() - t0
    return summary


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _peek_two(chunks: Iterator[pd.DataFrame]) -> tuple[Iterator[pd.DataFrame], bool]:
    """``chunks`` unchanged (the first two read ahead), and whether it holds more than one."""
    ahead = list(islice(chunks, 2))
    return chain(ahead, chunks), len(ahead) == 2


def _checked(reader: ChunkReader, required: Sequence[str], columns: list[str]) -> Iterator[pd.DataFrame]:
    """The reader's chunks, after checking the first one has the ``required`` columns (its names go to ``columns``)."""
    for i, chunk in enumerate(reader):
        if i == 0:
            check_columns(chunk, required, reader.path)
            columns.extend(str(c) for c in chunk.columns)
        yield chunk


def _arrow_types(reader: ChunkReader) -> dict:
    """Parquet output types: the input's own when it was Parquet, fixed ones for the result columns."""
    import pyarrow as pa

    types = {f.name: f.type for f in reader.arrow_schema} if reader.arrow_schema is not None else {}
    types = {(f"{INPUT_PREFIX}{k}" if k in RESULT_COLUMNS else k): v for k, v in types.items()}
    types.update({c: pa.string() for c in RESULT_COLUMNS})
    types.update({c: pa.float64() for c in _FLOAT_COLUMNS})
    types["needs_review"] = pa.bool_()
    return types


# --- local processes ---------------------------------------------------------------------------------------
_WORKER_MODEL: Predictor | None = None


def _init_worker(model: Predictor, parent: int) -> None:
    """Process-pool initializer: keep the model for every chunk this worker will label; die with the parent."""
    global _WORKER_MODEL
    _WORKER_MODEL = model
    _die_with(parent)
    tune_batch_process()


_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """End this worker when the batch process that started it dies (killed, say): a forked worker otherwise lives
    on, blocked on a queue whose pipe its siblings keep open. Linux only; elsewhere the pool's own checks remain."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


#: glibc ``mallopt`` parameters and the values :func:`tune_batch_process` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value
_TRIM_THRESHOLD = 256 << 20


def tune_batch_process() -> None:
    """Tune this process for labelling files; call it once the model is loaded. Process-wide, so it is called
    only in processes that exist to label files: pool workers and the ``triage batch`` command.

    - The objects alive now (the model's vocabularies, hundreds of thousands of them) leave the garbage
      collector's view (:func:`gc.freeze`): its full passes no longer walk them, nor touch the pages a forked
      worker shares with its parent. A few percent of a batch run's wall time (median 8.97 against 9.21 s on
      100,000 rows, four runs each, alternating).
    - glibc keeps the memory of one chunk's arrays for the next instead of returning it to the OS and faulting
      it in again: this halves the system time, for a small, bounded rise in resident memory. A no-op off glibc.
    """
    gc.freeze()
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    except (OSError, AttributeError):  # musl or another libc: keep its defaults
        log.debug("mallopt is not available; keeping the allocator's defaults")


def _label_in_worker(texts: list[str], errors: list[str | None]) -> pd.DataFrame:
    return label_texts(_WORKER_MODEL, texts, errors)


def _run_pool(chunks: Iterable[pd.DataFrame], model: Predictor, text_cols: list[str], jobs: int) -> Iterator[pd.DataFrame]:
    """Label chunks on ``jobs`` processes, yielding results in input order with at most ``2 * jobs`` in flight.

    Workers get only the texts and send back only the result columns; the chunk itself stays here. Each chunk
    goes out as ``jobs`` slices, so every worker starts on the first chunk and none is left alone on the last.
    """
    # fork shares the loaded model at no cost, but is unsafe in a threaded host (the web service): spawn there.
    ctx = multiprocessing.get_context("fork" if threading.active_count() == 1 and sys.platform == "linux" else "spawn")
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker, initargs=(model, os.getpid())) as pool:
        pending: deque[tuple[pd.DataFrame, list[Future]]] = deque()
        for chunk in chunks:
            df, texts, errors = _prepare(chunk, text_cols)
            step = max(-(-len(texts) // jobs), 1)
            pending.append((df, [pool.submit(_label_in_worker, texts[s : s + step], errors[s : s + step])
                                 for s in range(0, max(len(texts), 1), step)]))
            if len(pending) >= 2 * jobs:
                yield _joined(*pending.popleft())
        while pending:
            yield _joined(*pending.popleft())


def _joined(df: pd.DataFrame, slices: list[Future]) -> pd.DataFrame:
    """The chunk with the result columns of its slices appended."""
    parts = [f.result() for f in slices]
    return _attach(df, parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True))


# --- dask.distributed --------------------------------------------------------------------------------------
def _model_plugin(model: Predictor):
    from distributed.diagnostics.plugin import WorkerPlugin

    class ModelPlugin(WorkerPlugin):
        """Carries the pickled model to each worker once; unpickled at worker setup."""

        name = _PLUGIN_NAME

        def __init__(self, payload: bytes) -> None:
            self.payload = payload
            self.model = None

        def setup(self, worker) -> None:
            self.model = pickle.loads(self.payload)

    return ModelPlugin(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))


def _label_partition(df: pd.DataFrame, text_cols: list[str]) -> pd.DataFrame:
    from distributed import get_worker

    return label_frame(get_worker().plugins[_PLUGIN_NAME].model, df, text_cols)


def _run_dask(chunks: Iterable[pd.DataFrame], model: Predictor, text_cols: list[str], jobs: int, scheduler: Any) -> Iterator[pd.DataFrame]:
    """Label chunks as partitions of Dask DataFrames, ``2 * workers`` partitions at a time, in order."""
    from contextlib import ExitStack

    import dask
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    with ExitStack() as stack:
        if isinstance(scheduler, Client):
            client = scheduler
        elif scheduler:
            client = stack.enter_context(Client(scheduler))
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=jobs, threads_per_worker=1, dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        stack.enter_context(dask.config.set({"dataframe.convert-string": False}))
        client.register_plugin(_model_plugin(model), name=_PLUGIN_NAME)
        window = 2 * max(len(client.scheduler_info().get("workers", {})), 1)
        it = iter(chunks)
        while group := list(islice(it, window)):
            group = [g if READ_ERROR in g.columns else g.assign(**{READ_ERROR: None}) for g in group]
            meta_in = group[0].iloc[:0]
            meta_out = label_frame(model, meta_in, text_cols)
            ddf = dd.from_delayed(client.scatter(group), meta=meta_in, verify_meta=False)
            labelled = ddf.map_partitions(_label_partition, text_cols, meta=meta_out)
            yield client.compute(labelled, sync=True).reset_index(drop=True)


# --- progress ----------------------------------------------------------------------------------------------
class _Progress:
    """A tqdm bar in rows with rows/s and ETA; the total is exact when the format tells it, else estimated."""

    def __init__(self, reader: ChunkReader, enabled: bool) -> None:
        self.reader = reader
        self.enabled = enabled
        self.bar = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=self.reader.total_rows, unit=" rows", unit_scale=True, dynamic_ncols=True, smoothing=0.1)
        return self

    def update(self, n: int) -> None:
        if self.bar is None:
            return
        if self.reader.total_rows is None:
            frac = self.reader.fraction_read()
            if frac:
                self.bar.total = max(int((self.bar.n + n) / frac), self.bar.n + n)
        self.bar.update(n)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
