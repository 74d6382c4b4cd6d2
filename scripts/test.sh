#!/usr/bin/env bash
# Install deepreplay with its test extras and the JAX and PyTorch backends (tests/test_backends.py
# records and replays on TensorFlow, JAX and PyTorch), then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e ".[test,jax,torch]"
python -m pytest -q -p no:cacheprovider tests "$@"
