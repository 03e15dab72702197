"""Bulk scoring on Ray Data: ``heapmetric score|compare --engine ray`` and :func:`score_file`.

The pipeline::

    driver: one streaming pass over the input (check every row, note shard starts, sha256 of the bytes)
        -> manifest.json in OUTPUT.ray/ (model revision, settings, input fingerprint); refused if it differs
    Ray Data: from_items(pending shards) -> map_batches(read one shard, a task)
        -> map_batches(_Scorer, ActorPoolStrategy(size=workers)): each actor loads the judge once and scores
           ``rows_per_call`` rows at a time with Metric.score (the in-process token-budget batching)
        -> iter_batches in input order (DataContext.preserve_order)
    driver: rows checked to arrive exactly once, in order; each complete shard written atomically as
        OUTPUT.ray/part-NNNNNN.jsonl; when all are there, merged into OUTPUT (atomic) and OUTPUT.ray/ removed.

Memory is bounded by Ray Data's streaming window (``max_tasks_in_flight_per_actor`` calls per actor and an
object-store budget), not by the input size: the driver holds one shard of output rows at most. A killed actor
is restarted by Ray and its call retried (Ray Data's actor pool runs with ``max_restarts=-1`` and
``max_task_retries=-1``); since the driver takes each row index once, a retried call cannot duplicate rows.
A run stopped at any point (Ctrl-C, a crash, a lost driver) keeps its complete shards; the same command run
again scores only the missing shards. A manifest written for another model revision, other score-changing
settings or another input is refused, so old and new scores are never mixed.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from heapmetric.cli.score import PAIR_FIELDS
from heapmetric.distributed.sources import (
    Plan,
    Shard,
    Source,
    fingerprint,
    open_source,
    plan_shards,
    read_shard,
)
from heapmetric.errors import InputError, UnsupportedError
from heapmetric.judges.base import ITEM_FIELDS

log = logging.getLogger(__name__)

RAY_HINT = (
    "the ray engine needs Ray: pip install 'heapmetric[ray]' (ray[data,serve]==2.60.0), "
    "or leave out --engine ray to score in this process"
)
MANIFEST_VERSION = 1
DEFAULT_SHARD_SIZE = 4096
DEFAULT_ROWS_PER_CALL = 512
DEFAULT_OBJECT_STORE_BUDGET = 256 * 1024 * 1024
"""Bytes of Ray's object store the pipeline may fill at once (the streaming window's size limit)."""

# the field names (and the columns --map renames) of `heapmetric score` / `heapmetric compare`
SCORE_FIELDS = ITEM_FIELDS


def require_ray() -> Any:
    """The ``ray`` module, or :class:`UnsupportedError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise UnsupportedError(RAY_HINT) from exc
    return ray


# --- what decides the scores ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """A bulk run's score-changing settings: ``kind`` (score | compare), the judge and how rows become items.

    ``mapping`` maps item fields to input columns (``--map``); ``task``/``criterion``/``instruction`` apply to
    rows without their own. ``batch_size`` caps a model batch (items); it does not change scores."""

    kind: str = "score"
    model: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    quantize: str | None = None
    max_length: int | None = None
    task: str | None = None
    criterion: str | None = None
    instruction: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    batch_size: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("score", "compare"):
            raise ValueError(f"kind must be score or compare, got {self.kind!r}")


def row_item(spec: RunSpec, row: dict[str, Any], line: int | None, file: str | None) -> Any:
    """The :class:`ScoreItem` (or :class:`PairItem`) of one input row, as ``heapmetric score``/``compare`` build
    it: values through ``--map``, the flags' criterion where the row names none. Bad rows raise
    :class:`InputError` naming ``file:line`` and the column."""
    from heapmetric.judges.base import PairItem, ScoreItem, item_values

    fields = SCORE_FIELDS if spec.kind == "score" else PAIR_FIELDS
    values = item_values(row, fields, mapping=spec.mapping, file=file, line=line, from_file=True)
    for name in ("output",) if spec.kind == "score" else ("output_a", "output_b"):
        if name not in values:
            raise InputError(
                "missing required field", file=file, line=line, field=spec.mapping.get(name, name)
            )
    if not {"instruction", "task", "criterion"} & set(values) and spec.instruction:
        values["instruction"] = spec.instruction
    if "instruction" not in values:
        values.setdefault("task", spec.task)
        values.setdefault("criterion", spec.criterion)
    if spec.kind == "score":
        return ScoreItem(**values)
    values.pop("system_a", None)
    values.pop("system_b", None)
    refs = values.pop("references", None)
    if refs and "reference" not in values:
        values["reference"] = refs[0]  # a pair is judged against one reference, as `heapmetric compare` does
    return PairItem(**values)


def row_checker(spec: RunSpec, file: str) -> Callable[[int, dict[str, Any]], None]:
    """A check for :func:`plan_shards`: the row makes an item and its criterion resolves (errors name file:line)."""
    from heapmetric.errors import HeapmetricError
    from heapmetric.scoring.inputs import criterion_of

    cache: dict = {}

    def check(line: int, row: dict[str, Any]) -> None:
        item = row_item(spec, row, line, file)
        try:
            criterion_of(item, cache=cache)
        except InputError as exc:
            raise InputError(exc.reason, file=file, line=line, field=exc.field) from exc
        except HeapmetricError as exc:
            raise InputError(str(exc), file=file, line=line, field="criterion") from exc

    return check


def model_identity(model: str | None) -> dict[str, Any]:
    """The model's path and content revision (:func:`~heapmetric.loading.model_revision`), without
    loading it."""
    from heapmetric.loading import default_model, model_revision, resolve_model_path

    name = str(model) if model is not None else default_model()
    prefix = ""
    if name.startswith("generative:"):
        prefix, name = "generative:", name.split(":", 1)[1]
    if prefix and not Path(name).expanduser().is_dir():
        return {"model": prefix + name, "revision": None}  # a generative spec the judge loader resolves
    path = resolve_model_path(name)
    return {"model": prefix + str(path.resolve()), "revision": model_revision(path)}


def build_manifest(spec: RunSpec, plan: Plan, shard_size: int, input_hash: str) -> dict[str, Any]:
    """What a resumable run's shards were written under (see :func:`manifest_differences`)."""
    from heapmetric import __version__
    from heapmetric.registry import registry_version
    from heapmetric.scoring.render import RENDER_VERSION

    settings = asdict(spec)
    settings.pop("batch_size")  # scores do not depend on it
    settings.pop("device")  # nor on the device (the journal of `heapmetric score` leaves it out too)
    settings.pop("model")
    return {
        "heapmetric_ray_manifest": MANIFEST_VERSION,
        "kind": spec.kind,
        "model": model_identity(spec.model),
        "settings": settings,
        "render_version": RENDER_VERSION,
        "registry_version": registry_version(),
        "heapmetric_version": __version__,
        "input": {
            "path": str(Path(plan.source.path).resolve()),
            "format": plan.source.format,
            "sha256": input_hash,
            "rows": plan.n_rows,
            "shard_size": shard_size,
            "shards": len(plan.shards),
        },
    }


def manifest_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for every score-changing entry that differs (the input path may move; its bytes
    may not)."""

    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            if isinstance(v, dict) and k != "mapping":
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    a, b = flat(old), flat(new)
    ignore = {"input.path", "heapmetric_version"}
    return [
        f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b) - ignore) if a.get(k) != b.get(k)
    ]


# --- Ray parts -------------------------------------------------------------------------------------------------


def _read_block(batch: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """Ray Data stage 1 (a task): the rows of the shards described in ``batch`` (one shard per block)."""
    import numpy as np

    src = Source(source["path"], source["format"], tuple(source["columns"]))
    rows, lines, texts = [], [], []
    for k in range(len(batch["index"])):
        shard = Shard(*(int(batch[name][k]) for name in ("index", "start", "rows", "offset", "line")))
        for j, (line, row) in enumerate(read_shard(src, shard)):
            rows.append(shard.start + j)
            lines.append(line)
            texts.append(json.dumps(row, ensure_ascii=False, default=str))
    return {"_row": np.asarray(rows, dtype=np.int64), "line": np.asarray(lines, dtype=np.int64), "row": texts}


class _Scorer:
    """Ray Data stage 2 (an actor of the pool): loads the judge once, then scores batches of rows."""

    def __init__(self, spec: dict[str, Any], file: str, monitor: str | None = None) -> None:
        import ray
        from transformers.utils import logging as hf_logging

        from heapmetric.loading import load

        hf_logging.disable_progress_bar()  # one "Loading weights" bar per actor is noise in the driver's log
        self.spec = RunSpec(**spec)
        self.file = file
        self.judge = load(
            self.spec.model,
            device=self.spec.device,
            dtype=self.spec.dtype,
            quantization=self.spec.quantize,
            max_length=self.spec.max_length,
        )
        self.monitor = ray.get_actor(monitor) if monitor else None
        self.key = ray.get_runtime_context().get_actor_id()
        if self.monitor is not None:
            self.monitor.register.remote(self.key, ray.get_runtime_context().current_actor, os.getpid())

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        started = time.perf_counter()
        rows = [json.loads(text) for text in batch["row"]]
        items = [
            row_item(self.spec, row, int(line), self.file)
            for row, line in zip(rows, batch["line"], strict=True)
        ]
        primary: list[float] = []
        if self.spec.kind == "score":
            result = self.judge.score(items, batch_size=self.spec.batch_size)
            for i, row in enumerate(rows):
                row["score"] = result.scores[i]
                if result.calibrated is not None and result.calibrated[i] is not None:
                    row["calibrated_score"] = result.calibrated[i]
                primary.append(result.scores[i])
        else:
            result = self.judge.compare(items, batch_size=self.spec.batch_size)
            for i, row in enumerate(rows):
                row["p_a_better"] = result.probabilities[i]
                if result.scores_a is not None and result.scores_b is not None:
                    row["score_a"], row["score_b"] = result.scores_a[i], result.scores_b[i]
                primary.append(result.probabilities[i])
        out = [json.dumps(row, ensure_ascii=False, default=str) for row in rows]
        if self.monitor is not None:
            self.monitor.add.remote(self.key, len(rows), time.perf_counter() - started)
        return {"_row": batch["_row"], "out": out, "value": np.asarray(primary, dtype=np.float64)}


class Monitor:
    """A small actor that counts what each scoring actor did (rows, busy seconds) and keeps their handles
    (a restarted actor registers again, so ``registrations`` counts restarts too)."""

    def __init__(self) -> None:
        self.handles: dict[str, Any] = {}
        self.counts: dict[str, list[float]] = {}
        self.registrations = 0

    def register(self, key: str, handle: Any, pid: int) -> None:
        self.handles[key] = handle
        self.counts.setdefault(key, [0, 0.0])
        self.registrations += 1

    def add(self, key: str, rows: int, seconds: float) -> None:
        entry = self.counts.setdefault(key, [0, 0.0])
        entry[0] += rows
        entry[1] += seconds

    def actors(self) -> list[Any]:
        """Handles of the scoring actors that registered (for ``ray.kill`` in fault tests)."""
        return list(self.handles.values())

    def stats(self) -> dict[str, Any]:
        return {
            "registrations": self.registrations,
            "actors": {k: {"rows": int(v[0]), "busy_s": round(v[1], 3)} for k, v in self.counts.items()},
        }


def connect(
    address: str | None = None, *, num_cpus: int | None = None, quiet: bool = False, attempts: int = 1
) -> bool:
    """Join the Ray cluster at ``address`` (``auto``: the one ``ray start`` runs here; default
    ``$RAY_ADDRESS``, as Ray's own tools read it), or start a local one.

    Returns True when this call started or joined it (the caller then calls ``ray.shutdown()``), False when
    this process was already connected. A local start is tried ``attempts`` times (on a loaded machine Ray's
    start-up can miss its own 30 s registration deadline; the processes of a failed try live until this
    process exits)."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs: dict[str, Any] = {
        "logging_level": logging.WARNING if quiet else logging.INFO,
        "log_to_driver": not quiet,
    }
    if address:
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as exc:
            raise InputError(f"cannot reach a Ray cluster at {address!r} ({exc})", field="--address") from exc
        return True
    for attempt in range(1, attempts + 1):
        try:
            ray.init(num_cpus=num_cpus, include_dashboard=False, **kwargs)
            return True
        except Exception as exc:  # noqa: BLE001 - Ray raises a bare Exception when its node start times out
            ray.shutdown()
            if attempt == attempts:
                raise UnsupportedError(
                    f"Ray could not start a local cluster ({exc}); on a busy machine start one first with "
                    "`ray start --head` and pass --address auto"
                ) from exc
            log.warning("Ray did not start (%s); trying again (%d of %d)", exc, attempt + 1, attempts)
    return True


@dataclass
class Progress:
    """Passed to ``on_shard`` after each shard is written."""

    shard: int
    shards_done: int
    shards_total: int
    rows_done: int
    monitor: Any = None


@dataclass
class BulkReport:
    """What a bulk run did: rows in the output, rows scored by this run, shards resumed, timing, per-system
    means (score: mean score; compare: mean P(a better) per ``system_a`` value), per-actor counts."""

    output: str
    rows: int
    rows_scored: int
    shards: int
    shards_resumed: int
    seconds: float
    mean: float | None
    system_means: dict[str, float]
    system_counts: dict[str, int]
    actors: dict[str, Any] = field(default_factory=dict)

    @property
    def items_per_second(self) -> float:
        return self.rows_scored / self.seconds if self.seconds > 0 else 0.0


def _shard_path(work: Path, index: int) -> Path:
    return work / f"part-{index:06d}.jsonl"


def _complete_shards(work: Path, plan: Plan) -> set[int]:
    """Shards whose file exists with the right number of lines (files are written whole, by rename)."""
    done = set()
    for shard in plan.shards:
        path = _shard_path(work, shard.index)
        if path.is_file():
            with open(path, "rb") as handle:
                if sum(1 for _ in handle) == shard.rows:
                    done.add(shard.index)
    return done


def run_bulk(
    spec: RunSpec,
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    only_system: bool = False,
    workers: int = 1,
    gpus_per_worker: float = 0.0,
    cpus_per_worker: float = 1.0,
    address: str | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    rows_per_call: int = DEFAULT_ROWS_PER_CALL,
    object_store_budget: int = DEFAULT_OBJECT_STORE_BUDGET,
    quiet: bool = True,
    on_shard: Callable[[Progress], None] | None = None,
) -> BulkReport:
    """Score (``spec.kind="score"``) or compare every row of ``input`` on Ray and write ``output``.

    Promises: the output rows are the input rows in input order with ``score`` (and ``calibrated_score``) or
    ``p_a_better`` (and ``score_a``/``score_b``) added, each exactly once, with the scores in-process
    ``heapmetric score`` gives (within float rounding: the same token-budget batching, on ``rows_per_call`` rows
    at a time). The output is written atomically once every shard is done; until then complete shards live
    in ``OUTPUT.ray/`` and a rerun with the same spec and input scores only the missing ones. A manifest
    written for another model revision, other settings or another input raises :class:`InputError`.
    ``on_shard`` is called after each shard is written (progress bars, tests)."""
    from heapmetric.io import atomic_write, check_output

    require_ray()  # before any work: without Ray, say how to install it
    for name, value in (("--workers", workers), ("--rows-per-call", rows_per_call)):
        if value < 1:
            raise InputError(f"must be >= 1, got {value}", field=name)
    if gpus_per_worker < 0:
        raise InputError(f"must be >= 0, got {gpus_per_worker}", field="--gpus-per-worker")
    if str(output) == "-":
        raise InputError(
            "the ray engine writes a file (it keeps resumable shards beside it): give -o FILE",
            field="--output",
        )
    check_output(output, flag="--output")
    out_format = _output_format(output, output_format)
    source = open_source(input, input_format)
    started = time.perf_counter()
    plan = plan_shards(source, shard_size, row_checker(spec, source.path))
    manifest = build_manifest(spec, plan, shard_size, fingerprint(source.path))
    work = Path(str(output) + ".ray")
    manifest_path = work / "manifest.json"
    if manifest_path.exists():
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InputError(
                f"unreadable manifest ({exc}); delete {work} to start over", file=str(manifest_path)
            ) from exc
        diffs = manifest_differences(old, manifest)
        if diffs:
            raise InputError(
                f"the shards in {work} were written for another run ({'; '.join(diffs)}); mixing them with "
                f"new scores would give a file of two runs, so nothing was scored. Run the earlier command to "
                f"finish it, or delete {work} to start over",
                file=str(manifest_path),
            )
    else:
        from heapmetric.io import write_json

        work.mkdir(parents=True, exist_ok=True)
        write_json(manifest_path, manifest)
    done = _complete_shards(work, plan)
    todo = [s for s in plan.shards if s.index not in done]
    actors: dict[str, Any] = {}
    if todo:
        actors = _run_pipeline(
            spec,
            plan,
            todo,
            work,
            done=len(done),
            workers=workers,
            gpus_per_worker=gpus_per_worker,
            cpus_per_worker=cpus_per_worker,
            address=address,
            rows_per_call=rows_per_call,
            object_store_budget=object_store_budget,
            quiet=quiet,
            on_shard=on_shard,
        )
    key = "score" if spec.kind == "score" else "p_a_better"
    system_column = (
        spec.mapping.get("system", "system")
        if spec.kind == "score"
        else spec.mapping.get("system_a", "system_a")
    )
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    total, n = 0.0, 0
    for row in _iter_output(work, plan):
        value = row.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            total, n = total + value, n + 1
            name = row.get(system_column)
            if name is not None and name != "":
                sums[str(name)] = sums.get(str(name), 0.0) + value
                counts[str(name)] = counts.get(str(name), 0) + 1
    means = {k: sums[k] / counts[k] for k in sums}
    if only_system:
        if not means:
            raise InputError(
                f"--only-system needs a {system_column!r} column and no row has one", file=source.path
            )
        from heapmetric.io import write_table

        write_table(output, [{"system": k, key: v, "n": counts[k]} for k, v in means.items()], out_format)
    else:
        _merge(work, plan, output, out_format, atomic_write)
    shutil.rmtree(work)
    return BulkReport(
        output=str(output),
        rows=plan.n_rows,
        rows_scored=sum(s.rows for s in todo),
        shards=len(plan.shards),
        shards_resumed=len(done),
        seconds=time.perf_counter() - started,
        mean=total / n if n else None,
        system_means=means,
        system_counts=counts,
        actors=actors,
    )


def _run_pipeline(
    spec: RunSpec,
    plan: Plan,
    todo: list[Shard],
    work: Path,
    *,
    done: int,
    workers: int,
    gpus_per_worker: float,
    cpus_per_worker: float,
    address: str | None,
    rows_per_call: int,
    object_store_budget: int,
    quiet: bool,
    on_shard: Callable[[Progress], None] | None,
) -> dict[str, Any]:
    """Score the ``todo`` shards on Ray Data and write each as it completes; returns per-actor counts."""
    import uuid

    from heapmetric.io import atomic_write

    ray = require_ray()
    local_cpus = None if address else max(os.cpu_count() or 1, math.ceil(workers * cpus_per_worker))
    started_here = connect(address, num_cpus=local_cpus, quiet=quiet)
    monitor_name = f"heapmetric-monitor-{uuid.uuid4().hex[:12]}"
    monitor = ray.remote(num_cpus=0)(Monitor).options(name=monitor_name).remote()
    iterator = None
    try:
        from ray.data import ActorPoolStrategy, DataContext

        ctx = DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = not quiet
        ctx.execution_options.resource_limits = ctx.execution_options.resource_limits.copy(
            object_store_memory=object_store_budget
        )
        ds = ray.data.from_items([asdict(s) for s in todo], override_num_blocks=len(todo))
        ds = ds.map_batches(
            _read_block, fn_kwargs={"source": plan.source.to_dict()}, batch_size=None, num_cpus=0
        )
        ds = ds.map_batches(
            _Scorer,
            fn_constructor_kwargs={"spec": asdict(spec), "file": plan.source.path, "monitor": monitor_name},
            batch_size=rows_per_call,
            compute=ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=2),
            num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker,
        )
        pending = iter(todo)
        current = next(pending)
        lines: list[str] = []
        shards_done = done
        rows_done = sum(s.rows for s in plan.shards) - sum(s.rows for s in todo)
        iterator = ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1)
        for batch in iterator:
            for index, text in zip(batch["_row"], batch["out"], strict=True):
                expected = current.start + len(lines)
                if int(index) != expected:
                    raise RuntimeError(
                        f"ray engine: row {int(index)} arrived where row {expected} was due "
                        "(a duplicate or a gap); nothing of this shard was written"
                    )
                lines.append(text)
                if len(lines) == current.rows:
                    with atomic_write(_shard_path(work, current.index)) as handle:
                        handle.write("\n".join(lines) + "\n")
                    shards_done += 1
                    rows_done += current.rows
                    lines = []
                    finished = current
                    current = next(pending, None)
                    if on_shard is not None:
                        on_shard(Progress(finished.index, shards_done, len(plan.shards), rows_done, monitor))
        if current is not None:
            raise RuntimeError(f"ray engine: the pipeline ended before shard {current.index} was complete")
        return ray.get(monitor.stats.remote())
    finally:
        if iterator is not None:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        ray.kill(monitor)
        if started_here:
            ray.shutdown()


def _iter_output(work: Path, plan: Plan):
    for shard in plan.shards:
        with open(_shard_path(work, shard.index), encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)


def _output_format(path: str | os.PathLike, fmt: str | None) -> str:
    if fmt:
        return fmt
    suffix = Path(str(path)).suffix.lower()
    return {".csv": "csv", ".tsv": "tsv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}.get(
        suffix, "jsonl"
    )


def _merge(work: Path, plan: Plan, output: str | os.PathLike, fmt: str, atomic_write: Any) -> None:
    """Concatenate the shards into ``output`` (streaming; CSV/TSV take a first pass for the columns)."""
    import csv

    if fmt == "jsonl":
        with atomic_write(output) as out:
            for shard in plan.shards:
                with open(_shard_path(work, shard.index), encoding="utf-8") as handle:
                    shutil.copyfileobj(handle, out)
        return
    if fmt == "json":
        with atomic_write(output) as out:
            out.write("[\n")
            for k, row in enumerate(_iter_output(work, plan)):
                out.write((",\n" if k else "") + "  " + json.dumps(row, ensure_ascii=False))
            out.write("\n]\n")
        return
    if fmt in ("csv", "tsv"):
        columns: dict[str, None] = {}
        for row in _iter_output(work, plan):
            columns.update(dict.fromkeys(row))
        with atomic_write(output) as out:
            writer = csv.DictWriter(
                out, fieldnames=list(columns), delimiter="," if fmt == "csv" else "\t", lineterminator="\n"
            )
            writer.writeheader()
            for row in _iter_output(work, plan):
                writer.writerow(
                    {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in row.items()}
                )
        return
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        with atomic_write(output, mode="wb") as out:
            writer = None
            try:
                for shard in plan.shards:
                    with open(_shard_path(work, shard.index), encoding="utf-8") as handle:
                        table = pa.Table.from_pylist([json.loads(line) for line in handle])
                    if writer is None:
                        writer = pq.ParquetWriter(out, table.schema)
                    writer.write_table(table.cast(writer.schema))
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise InputError(
                    f"the rows do not fit one Parquet schema ({exc}); write JSONL instead", field="--output"
                ) from exc
            finally:
                if writer is not None:
                    writer.close()
        return
    raise InputError(
        f"unknown output format {fmt!r} (jsonl, json, csv, tsv, parquet)", field="--output-format"
    )
