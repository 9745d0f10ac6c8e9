#!/usr/bin/env bash
# Build the Linux bundle in a fresh virtual environment holding only the runtime dependencies, then run
# its self-test headless and report the bundle size, the build time and the start time.
#
#   packaging/build_linux.sh                    # CPU build of torch from download.pytorch.org
#   VARIANT=cuda TORCH_INDEX_URL= packaging/build_linux.sh          # PyPI's torch, with CUDA 13
#   TORCH_INDEX_URL= packaging/build_linux.sh   # the pinned torch from wherever pip finds it
#
# The torch version is pinned in packaging/bundle_info.py (TORCH_REQUIREMENT overrides the requirement;
# build.py still insists on the pinned version). Needs python3 (3.10+) with venv and its shared library
# (libpython3.x), binutils (objdump, objcopy) and, to open the window, libxcb-cursor0.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${BUNDLE_VENV:-build/bundle-venv}
VARIANT=${VARIANT:-cpu}
TORCH_INDEX_URL=${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}
PYTHON=${PYTHON:-python3}
TORCH_REQUIREMENT=${TORCH_REQUIREMENT:-$("$PYTHON" packaging/bundle_info.py torch)}

started=$(date +%s)
"$PYTHON" -m venv --clear "$VENV"
py="$VENV/bin/python"
"$py" -m pip install --quiet --upgrade pip
# torch first and on its own: `pip install .` would otherwise pick PyPI's default build.
if [ -n "$TORCH_INDEX_URL" ]; then
    "$py" -m pip install --quiet "$TORCH_REQUIREMENT" --index-url "$TORCH_INDEX_URL"
else
    "$py" -m pip install --quiet "$TORCH_REQUIREMENT"
fi
# The app and its runtime dependencies, and PyInstaller; no test packages.
"$py" -m pip install --quiet ".[bundle]"
echo "environment ready in $(( $(date +%s) - started )) s: $("$py" -c 'import torch; print("torch", torch.__version__)')"
mkdir -p build
"$py" -m pip list --format=freeze > build/bundle-requirements.txt

"$py" packaging/build.py --variant "$VARIANT"
echo "total $(( $(date +%s) - started )) s"
