#!/usr/bin/env bash
# Install deepreplay, then run the canonical demo: train the Part 1 network for
# 150 epochs with ReplayData, and write out/part1_sigmoid.{gif,mp4} and a PNG.
# The install is skipped when this checkout is installed already with every
# dependency, builds without a fresh build environment when setuptools and wheel
# are there, and does not resolve the dependencies again when they are all
# installed (scripts/install_check.py says which); else `pip install -e .`.
set -euo pipefail
cd "$(dirname "$0")/.."
# PIP_ROOT_USER_ACTION: pip's "running as root" warning is noise in the containers this runs in.
pip_install=(env PIP_ROOT_USER_ACTION=ignore python -m pip install --quiet --disable-pip-version-check)
TIMEFORMAT="installed in %1R s"
case "$(python scripts/install_check.py 2>/dev/null || true)" in
  installed) echo "deepreplay is installed from this checkout with its dependencies: nothing to install" ;;
  no-deps) echo "installing deepreplay (pip install -e .; its dependencies are installed)"
    time "${pip_install[@]}" --no-build-isolation --no-deps -e . ;;
  no-isolation) echo "installing deepreplay (pip install -e .)"; time "${pip_install[@]}" --no-build-isolation -e . ;;
  *) echo "installing deepreplay and its dependencies (pip install -e .)"; time "${pip_install[@]}" -e . ;;
esac
python -m deepreplay demo --output out "$@"
