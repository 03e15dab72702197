#!/usr/bin/env bash
# Fetch the bitsandbytes wheel for the CUDA machine (python 3.12, torch 2.11+cu130) into the ignored .whl/
# folder, keeping only the CUDA 13 and CPU kernels: the full wheel (43 MB) plus the working tree would pass
# the 64 MiB that may travel to the device machine; the trimmed one is about 3 MB.
# Run in the repository root of a machine with network access. Needs python3 with pip.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION="${BNB_VERSION:-0.50.2}"
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_24_x86_64 -d "$tmp" "bitsandbytes==$VERSION"
mkdir -p .whl
rm -f .whl/bitsandbytes-*.whl
python3 - "$tmp" .whl <<'PY'
import pathlib, re, sys, zipfile
src_dir, out_dir = map(pathlib.Path, sys.argv[1:])
src = next(src_dir.glob("bitsandbytes-*.whl"))
keep = re.compile(r"libbitsandbytes_(cuda13\d|cpu)\.so$")
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out_dir / src.name, "w", zipfile.ZIP_DEFLATED) as zout:
    for info in zin.infolist():
        name = info.filename
        if name.endswith(".so") and not keep.search(name):
            continue
        data = zin.read(name)
        if name.endswith(".dist-info/RECORD"):  # drop the lines of the files left out
            lines = [l for l in data.decode().splitlines() if not (".so," in l and not keep.search(l.split(",")[0]))]
            data = ("\n".join(lines) + "\n").encode()
        zout.writestr(info, data)
print(f"{out_dir / src.name}: {(out_dir / src.name).stat().st_size / 2**20:.1f} MiB")
PY
