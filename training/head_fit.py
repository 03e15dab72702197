"""Fit a reward model's linear head on its frozen encoder's features (``head_fit: true`` in a config).

Fine-tuning on a 2-core CPU sees about one pair a second (a forward and a backward pass through the encoder
for both outputs), a few thousand pairs a session. With the encoder frozen, a score is a linear function of
the pooled features (:meth:`~heapmetric.scoring.reward_model.RewardModel.features`): one forward pass per
output, with no backward, gives everything the fit needs, and the Bradley–Terry loss over feature differences
is convex, so L-BFGS finds its optimum in seconds for each L2 strength. This is COMET's recipe (a trained
estimator over fixed encoder features) and the linear probe of representation learning, on the training
mixture of the fine-tuning runs (the trainer's data, sampler and instruction paraphrases).

The steps, each kept in the run folder so a stopped run continues with ``--resume``:

1. draw ``head_fit_pairs`` pairs from the mixture, in chunks of :data:`CHUNK`, render them and save the
   features of both outputs to ``features/part-NNNNN.pt`` (until the pairs or ``max_minutes`` run out);
2. the features of validation pairs (at most ``head_fit_val_pairs`` a group) to ``features/validation.pt``;
3. for each strength in ``head_fit_l2``, minimise the mean pairwise cross-entropy (soft labels where the data
   has them) plus ``l2 / 2 * |w - w0|^2`` in standardised feature units, ``w0`` being the starting head
   (``init_from``'s, so a large ``l2`` keeps the starting model);
4. keep the strength with the best validation pairwise accuracy, averaged over groups (``head_fit.json`` has every strength's
   figures, overall and per dataset), then validate, calibrate and save the model like the trainer.
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path
from typing import Any

from heapmetric.errors import InputError
from heapmetric.io import atomic_write, write_json
from training.config import TrainConfig

log = logging.getLogger(__name__)

CHUNK = 500
"""Pairs per feature file: the unit of work a stopped run can lose."""


def extract_features(model: Any, ids: list[list[int]], pad_id: int, token_budget: int) -> Any:
    """``[len(ids), width]`` fp32 head inputs of tokenised inputs, run in length-sorted chunks of at most
    ``token_budget`` padded tokens (identical sequences are run once)."""
    import torch

    from heapmetric.scoring.batching import plan_batches
    from heapmetric.scoring.render import collate

    unique: dict[tuple[int, ...], int] = {}
    slot = [unique.setdefault(tuple(x), len(unique)) for x in ids]
    seqs = list(unique)
    width = model.head.weight.shape[1]
    feats = torch.empty(len(seqs), width, dtype=torch.float32)
    with torch.no_grad():
        for b in plan_batches([len(s) for s in seqs], max_tokens=token_budget):
            batch = collate([seqs[i] for i in b.indices], pad_id)
            feats[list(b.indices)] = model.features(batch["input_ids"], batch["attention_mask"]).float()
    return feats[slot]


def fit_head(
    diffs: Any, probs: Any, prior: Any, l2: float, *, max_iter: int = 300
) -> tuple[Any, dict[str, float]]:
    """The head weights ``w`` minimising mean BCE(sigmoid(diffs @ w), probs) + l2/2 |z(w) − z(prior)|².

    ``diffs [N, D]`` are feature differences (better − worse), ``probs [N]`` the probability that the first
    is better. The penalty is taken in standardised units (each feature scaled by its spread in ``diffs``),
    so one strength treats a feature of small range (a cosine) like one of large range. Returns ``w [D]`` in
    raw feature units and the fit's final training loss.
    """
    import torch

    scale = diffs.std(dim=0).clamp(min=1e-6)
    z = diffs / scale
    w0 = prior * scale
    w = w0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([w], lr=1, max_iter=max_iter, line_search_fn="strong_wolfe", tolerance_grad=1e-7)

    def closure() -> Any:
        opt.zero_grad()
        nll = torch.nn.functional.binary_cross_entropy_with_logits(z @ w, probs)
        loss = nll + 0.5 * l2 * (w - w0).pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        nll = float(torch.nn.functional.binary_cross_entropy_with_logits(z @ w, probs))
    return (w.detach() / scale), {"train_nll": nll}


def pair_report(scores_b: Any, scores_w: Any, probs: Any, groups: list[str]) -> dict[str, Any]:
    """Per-group pairwise accuracy (ties count half) and NLL of validation pairs, with their means over
    groups: all groups, and per dataset (the group name's first part)."""
    import torch

    diff = scores_b - scores_w
    correct = (diff > 0).float() + 0.5 * (diff == 0).float()
    nll = torch.nn.functional.binary_cross_entropy_with_logits(diff, probs, reduction="none")
    per: dict[str, dict[str, list[float]]] = {}
    for g, c, n in zip(groups, correct.tolist(), nll.tolist(), strict=True):
        row = per.setdefault(g, {"acc": [], "nll": []})
        row["acc"].append(c)
        row["nll"].append(n)
    by_group = {
        g: {"acc": statistics.fmean(r["acc"]), "nll": statistics.fmean(r["nll"])} for g, r in per.items()
    }
    datasets: dict[str, list[float]] = {}
    for g, r in by_group.items():
        datasets.setdefault(g.split("/")[0], []).append(r["acc"])
    return {
        "mean_pairwise_accuracy": statistics.fmean(r["acc"] for r in by_group.values()),
        "mean_nll": statistics.fmean(r["nll"] for r in by_group.values()),
        "datasets": {d: round(statistics.fmean(v), 4) for d, v in sorted(datasets.items())},
        "groups": len(by_group),
    }


def run(cfg: TrainConfig, *, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Extract features, fit the head for each L2 strength, save the best model to ``output_dir/model``.

    Returns the report written to ``output_dir/head_fit.json``. Raises :class:`InputError` before any work
    for bad data, and when the run folder already holds features but ``resume`` is false.
    """
    import torch

    from heapmetric.scoring.render import encode, pad_token_id
    from training import modeling
    from training.mixing import MixtureSampler, group_weights
    from training.scaling import validation_pairs
    from training.trainer import finalize_model, prepare_data, render_side

    out = Path(cfg.output_dir)
    folder = out / "features"
    parts = sorted(folder.glob("part-*.pt")) if folder.is_dir() else []
    if parts and not resume:
        raise InputError(
            f"{out} already holds {len(parts)} feature files; pass --resume to continue or --output for a new run",
            field="output_dir",
        )
    data, val_groups, criteria = prepare_data(cfg)
    sizes = {k: len(v) for k, v in data.pairs.items()}
    if not sizes:
        raise InputError("head_fit needs training pairs; no group has any", field="head_fit")
    weights = group_weights(
        sizes,
        cfg.mixing,
        cap=cfg.mixing_cap,
        temperature=cfg.mixing_temperature,
        dataset_weights=cfg.dataset_weights,
    )
    sampler = MixtureSampler(sizes, weights, cfg.seed)
    folder.mkdir(parents=True, exist_ok=True)
    import yaml

    with atomic_write(out / "config.yaml") as handle:
        yaml.safe_dump(cfg.to_dict(), handle, sort_keys=False)

    torch.manual_seed(cfg.seed)
    model, tokenizer = modeling.build_model(cfg)
    if not isinstance(model.head, torch.nn.Linear):
        raise InputError("head_fit needs a linear head", field="head_fit")
    model.eval()
    pad = pad_token_id(tokenizer)
    budget = cfg.token_budget or 8192

    def tokenize(rendered: list) -> list[list[int]]:
        return [e.input_ids for e in encode(tokenizer, rendered, cfg.max_length)]

    # 1. training features, chunk by chunk (chunk k is a pure function of the seed and k)
    n_chunks = -(-cfg.head_fit_pairs // CHUNK)
    start = time.monotonic()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_chunks * CHUNK, initial=len(parts) * CHUNK, desc="features", unit="pair")
    for k in range(len(parts), n_chunks):
        if cfg.max_minutes is not None and (time.monotonic() - start) / 60 > cfg.max_minutes:
            log.info("head fit: time budget spent after %d chunks of %d pairs", k, CHUNK)
            break
        size = min(CHUNK, cfg.head_fit_pairs - k * CHUNK)
        picks = sampler.draw(k, size)
        para = sampler.rng(k).integers(0, 1 << 30, size=size) if cfg.paraphrase == "random" else [None] * size
        pairs = [data.pairs[g][i] for g, i in picks]
        rendered = [render_side(p.fields, p.better, criteria, q) for p, q in zip(pairs, para, strict=True)]
        rendered += [render_side(p.fields, p.worse, criteria, q) for p, q in zip(pairs, para, strict=True)]
        feats = extract_features(model, tokenize(rendered), pad, budget)
        part = {
            "better": feats[:size],
            "worse": feats[size:],
            "prob": torch.tensor([p.prob for p in pairs], dtype=torch.float32),
            "group": [g for g, _ in picks],
        }
        tmp = folder / f".part-{k:05d}.pt"
        torch.save(part, tmp)
        tmp.replace(folder / f"part-{k:05d}.pt")
        if bar is not None:
            bar.update(size)
    if bar is not None:
        bar.close()
    parts = sorted(folder.glob("part-*.pt"))
    if not parts:
        raise InputError("no training features were extracted within max_minutes", field="max_minutes")
    loaded = [torch.load(p) for p in parts]
    better = torch.cat([p["better"] for p in loaded])
    worse = torch.cat([p["worse"] for p in loaded])
    probs = torch.cat([p["prob"] for p in loaded])
    train_groups = [g for p in loaded for g in p["group"]]

    # 2. validation features (canonical instructions, as at inference)
    val_file = folder / "validation.pt"
    if val_file.exists():
        val = torch.load(val_file)
    else:
        vpairs = validation_pairs(val_groups, max_pairs=cfg.head_fit_val_pairs, seed=cfg.seed)
        rows = [(g, b, w, p) for g, rs in vpairs.items() for b, w, p in rs]
        if not rows:
            raise InputError("head_fit needs validation pairs to choose its L2 strength", field="head_fit_l2")
        rendered = modeling.render_items([r[1] for r in rows] + [r[2] for r in rows], criteria)
        feats = extract_features(model, tokenize(rendered), pad, budget)
        val = {
            "better": feats[: len(rows)],
            "worse": feats[len(rows) :],
            "prob": torch.tensor([r[3] for r in rows], dtype=torch.float32),
            "group": [r[0] for r in rows],
        }
        torch.save(val, folder / ".validation.pt")
        (folder / ".validation.pt").replace(val_file)

    # 3. one fit per strength; 4. keep the best on validation
    # the starting head is init_from's; a fresh head's random weights are no prior, so then it is zero
    prior_w = model.head.weight.detach()[0].float().clone()
    prior_b = float(model.head.bias.detach()[0])
    if not cfg.init_from:
        prior_w.zero_()
        prior_b = 0.0
    diffs = better - worse
    metric = "mean_pairwise_accuracy"

    def report_for(w: Any) -> dict[str, Any]:
        return pair_report(val["better"] @ w, val["worse"] @ w, val["prob"], val["group"])

    rows: list[dict[str, Any]] = [{"l2": None, "start": True, **report_for(prior_w)}]
    best: tuple[float, Any, float] | None = None
    for l2 in cfg.head_fit_l2:
        w, info = fit_head(diffs, probs, prior_w, l2)
        rep = report_for(w)
        rows.append({"l2": l2, **info, **rep})
        log.info("head fit l2=%g: validation mean pairwise accuracy %.4f", l2, rep[metric])
        if best is None or rep[metric] > best[0]:
            best = (rep[metric], w, l2)
    assert best is not None
    _, w, chosen = best
    # keep the scores centred where the starting head put the training outputs
    mean_feat = torch.cat([better, worse]).mean(dim=0)
    bias = prior_b + float(mean_feat @ (prior_w - w))
    with torch.no_grad():
        model.head.weight.copy_(w.unsqueeze(0))
        model.head.bias.fill_(bias)
    shares: dict[str, int] = {}
    for g in train_groups:
        shares[g.split("/")[0]] = shares.get(g.split("/")[0], 0) + 1
    report = {
        "pairs": len(train_groups),
        "pairs_per_dataset": dict(sorted(shares.items())),
        "validation_pairs": len(val["group"]),
        "chosen_l2": chosen,
        "selection_metric": metric,
        "fits": rows,
        "extract_minutes_this_call": round((time.monotonic() - start) / 60, 2),
        "head_inputs": int(w.shape[0]),
    }
    write_json(out / "head_fit.json", report)
    validation = finalize_model(
        model, tokenizer, out / "model", cfg, val_groups, criteria, device="cpu", extra={"head_fit": report}
    )
    report["validation"] = validation
    write_json(out / "head_fit.json", report)
    return report


def describe(report: dict[str, Any]) -> str:
    """One line for the terminal."""
    fits = {r["l2"]: r for r in report["fits"]}
    chosen = fits[report["chosen_l2"]]
    start = fits[None]
    return (
        f"head fit on {report['pairs']} pairs: l2={report['chosen_l2']:g}, validation mean pairwise accuracy "
        f"{chosen['mean_pairwise_accuracy']:.4f} (starting head {start['mean_pairwise_accuracy']:.4f})"
    )
