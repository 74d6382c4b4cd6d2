#!/usr/bin/env bash
# Install deepreplay with its test extras, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e ".[test]"
python -m pytest -q -p no:cacheprovider tests "$@"
