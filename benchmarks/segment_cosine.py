"""Which hidden layer's output/rest cosine, and which token-level feature, tells an original from its
perturbation, per perturbation kind.

For the robustness pairs of a ``data build`` split (the robustness suite's draw, ``--per-cell`` pairs per
perturbation × criterion), encodes both sides with a model's encoder as the metric renders them and, at each
hidden layer, compares the cosine of the output's mean hidden state with that of what it is judged against
(reference, source, context: :func:`heapmetric.scoring.reward_model.segment_masks`). Prints, per perturbation
and layer, the share of pairs whose original has the higher cosine: near 1 means a low cosine gives the
perturbation away (an output written for another input), near 0 a high one (an echoed input). Then the same
for each of :func:`heapmetric.scoring.reward_model.lexical_features` (from the token ids of the same inputs).
These are the measurements behind ``segments`` pooling's choice of layer and ``segments_lexical``'s features
(docs/training.md):

    .venv/bin/python benchmarks/segment_cosine.py --model heapmetric/models/default --per-cell 3 [--out r.json]
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="heapmetric/models/default", help="a heapmetric encoder model folder")
    p.add_argument("--data", default="data_build", help="a `heapmetric data build` folder")
    p.add_argument("--split", default="test")
    p.add_argument("--per-cell", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = p.parse_args()

    import torch

    from heapmetric.errors import InputError
    from heapmetric.io import write_json
    from heapmetric.metaeval.robustness import pair_side, suite_pairs
    from heapmetric.registry import free_text_criterion, get_criterion
    from heapmetric.scoring.render import encode_batch, render
    from heapmetric.scoring.reward_model import RewardModel, lexical_features, segment_cosine, segment_masks

    pairs = suite_pairs(args.data, args.split, per_cell=args.per_cell)
    if not pairs:
        raise InputError(f"no robustness pairs in the {args.split} split", file=str(args.data))
    model = RewardModel.from_pretrained(args.model).eval()
    sep = getattr(model.tokenizer, "sep_token_id", None)
    if sep is None:
        raise InputError("the model's tokenizer has no separator token", file=str(args.model))
    rendered = []
    for pair in pairs:
        crit = (
            free_text_criterion(pair.instruction)
            if pair.instruction
            else get_criterion(pair.task, pair.criterion)
        )
        better, worse = (
            (pair.output_a, pair.output_b) if pair.label == "a" else (pair.output_b, pair.output_a)
        )
        rendered += [render(pair_side(pair, better), crit), render(pair_side(pair, worse), crit)]
    cosines: list[list[float]] = []  # per layer, per rendered input
    lexical: list[list[float]] = []  # per rendered input, the seven lexical features
    with torch.no_grad():
        for start in range(0, len(rendered), args.batch_size):
            batch, _ = encode_batch(
                model.tokenizer, rendered[start : start + args.batch_size], model.max_length
            )
            states = model.backbone(**batch, output_hidden_states=True).hidden_states
            out_mask, rest_mask = segment_masks(batch["input_ids"], batch["attention_mask"], sep)
            lexical += lexical_features(batch["input_ids"], batch["attention_mask"], sep).tolist()
            if not cosines:
                cosines = [[] for _ in states]
            for layer, hidden in enumerate(states):
                cosines[layer].extend(segment_cosine(hidden, out_mask, rest_mask).tolist())
    higher: dict[str, list[list[bool]]] = defaultdict(lambda: [[] for _ in cosines])
    for i, pair in enumerate(pairs):
        by_layer = higher[pair.meta["perturbation"]]
        for layer, cos in enumerate(cosines):
            if cos[2 * i] != cos[2 * i + 1]:  # equal (no rest, an output-only criterion) says nothing
                by_layer[layer].append(cos[2 * i] > cos[2 * i + 1])
    rows = {
        kind: {"n": len(by_layer[0]), "original_higher": [sum(v) / len(v) if v else None for v in by_layer]}
        for kind, by_layer in sorted(higher.items())
    }
    print(f"{args.model}: share of robustness pairs whose original has the higher output/rest cosine\n")
    print("| perturbation | pairs | " + " | ".join(f"layer {k}" for k in range(len(cosines))) + " |")
    print("|---|---:|" + "---:|" * len(cosines))
    for kind, row in rows.items():
        cells = " | ".join("–" if v is None else f"{v:.2f}" for v in row["original_higher"])
        print(f"| {kind} | {row['n']} | {cells} |")
    names = ["p", "p²", "r", "r²", "distinct", "repeated bigrams", "length"]
    lex_higher: dict[str, list[list[bool]]] = defaultdict(lambda: [[] for _ in names])
    for i, pair in enumerate(pairs):
        for k in range(len(names)):
            a, b = lexical[2 * i][k], lexical[2 * i + 1][k]
            if a != b:
                lex_higher[pair.meta["perturbation"]][k].append(a > b)
    lex_rows = {
        kind: {
            name: {"n": len(v), "original_higher": sum(v) / len(v) if v else None}
            for name, v in zip(names, by, strict=True)
        }
        for kind, by in sorted(lex_higher.items())
    }
    print("\nshare of the pairs whose original has the higher lexical feature (pairs where it differs)\n")
    print("| perturbation | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for kind, row in lex_rows.items():
        cells = [
            "–" if c["original_higher"] is None else f"{c['original_higher']:.2f} ({c['n']})"
            for c in row.values()
        ]
        print(f"| {kind} | " + " | ".join(cells) + " |")
    if args.out:
        info = {"model": str(args.model), "split": args.split, "per_cell": args.per_cell}
        write_json(args.out, {**info, "rows": rows, "lexical": lex_rows})


if __name__ == "__main__":
    main()
