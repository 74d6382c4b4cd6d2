#!/usr/bin/env bash
# Install deepreplay with its test extras and the JAX and PyTorch backends (tests/test_backends.py
# records and replays on TensorFlow, JAX and PyTorch), then run the whole test suite on every CPU
# (pytest-xdist, -n auto). The notebooks train DEEPREPLAY_NOTEBOOK_EPOCHS epochs (12 unless set; see
# tests/test_notebooks.py). The offline-HTML test needs a headless Chromium: Debian's `chromium`
# package (.ci/run installs it with apt-get when it is missing; without it that test fails).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -n 0 tests/test_cli.py`.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP_ROOT_USER_ACTION=ignore python -m pip install --quiet --disable-pip-version-check -e ".[test,jax,torch]"
python -m pytest -q -p no:cacheprovider -n auto tests "$@"
