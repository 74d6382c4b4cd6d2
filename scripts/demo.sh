#!/usr/bin/env bash
# Install deepreplay, then run the canonical demo: train the Part 1 network for
# 150 epochs with ReplayData, and write out/part1_sigmoid.{gif,mp4} and a PNG.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e .
python -m deepreplay demo --output out "$@"
