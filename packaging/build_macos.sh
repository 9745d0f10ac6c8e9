#!/usr/bin/env bash
# Build "Wuerstchen Desktop.app" and its .dmg in a fresh virtual environment holding only the runtime
# dependencies, then run the app's self-test. On Apple Silicon, PyPI's torch includes MPS support.
# The app needs macOS 14 (MACOS_MINIMUM in packaging/bundle_info.py), as its torch and Qt wheels do.
#
#   packaging/build_macos.sh
#
# Needs python3 (3.10+, arm64) and Xcode's command line tools (codesign, hdiutil come with macOS).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${BUNDLE_VENV:-build/bundle-venv}
PYTHON=${PYTHON:-python3}
TORCH_REQUIREMENT=${TORCH_REQUIREMENT:-$("$PYTHON" packaging/bundle_info.py torch)}  # pinned there

started=$(date +%s)
"$PYTHON" -m venv --clear "$VENV"
py="$VENV/bin/python"
"$py" -m pip install --quiet --upgrade pip
"$py" -m pip install --quiet "$TORCH_REQUIREMENT"
"$py" -m pip install --quiet ".[bundle]"
echo "environment ready in $(( $(date +%s) - started )) s: $("$py" -c 'import torch; print("torch", torch.__version__)')"
mkdir -p build
"$py" -m pip list --format=freeze > build/bundle-requirements.txt

"$py" packaging/build.py --variant "${VARIANT:-mps}"
echo "total $(( $(date +%s) - started )) s"
