"""How ``scripts/demo.sh`` installs deepreplay from this checkout: prints one word.

* ``installed``: this very checkout is installed (editable), ``setup.py``
  and ``pyproject.toml`` are not newer than that install, and every
  requirement of it is met: there is nothing to install.
* ``no-deps``: otherwise, when the build requirements of ``pyproject.toml``
  (setuptools, wheel) and every requirement of this checkout (the literal
  ``install_requires`` list of ``setup.py``) are installed already:
  ``pip install --no-build-isolation --no-deps -e .`` builds with them
  instead of downloading them into a fresh build environment first (3-5 s),
  and does not resolve the dependencies again (1-2 s).
* ``no-isolation``: when only the build requirements are installed:
  ``pip install --no-build-isolation -e .``.
* ``full``: anything else (a fresh machine, or any doubt): ``pip install -e .``.

Reads package metadata only (the standard library and ``packaging``); it
imports neither pip nor deepreplay nor TensorFlow.
"""

from __future__ import annotations

import os
import sys
import tomllib
from importlib import metadata
from urllib.parse import unquote, urlparse

ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))


def _met(requirements: list[str]) -> bool:
    """Whether every requirement (PEP 508 strings) is installed in a matching version, with its own.

    The requirements of the distributions found are checked in turn (with
    the extras asked for), as pip's resolver would; markers of extras not
    asked for leave a requirement out.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pending = [(text, "") for text in requirements]
    seen: set[tuple[str, str]] = set()
    while pending:
        text, extra = pending.pop()
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            return False
        if not req.specifier.contains(dist.version, prereleases=True):
            return False
        for wanted in {""} | set(req.extras):
            if (name, wanted) not in seen:
                seen.add((name, wanted))
                pending.extend((sub, wanted) for sub in dist.requires or [])
    return True


def _installed_here() -> bool:
    """Whether this checkout is the installed (editable) deepreplay, up to date, its requirements met."""
    try:
        dist = metadata.distribution("deepreplay")
    except metadata.PackageNotFoundError:
        return False
    import json

    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    url = urlparse(direct.get("url", ""))
    if not direct.get("dir_info", {}).get("editable") or url.scheme != "file":
        return False
    if os.path.realpath(unquote(url.path)) != ROOT:
        return False
    meta = [f for f in dist.files or [] if f.name == "METADATA" and f.parent.name.endswith(".dist-info")]
    if not meta:
        return False
    installed_at = os.path.getmtime(dist.locate_file(meta[0]))
    if any(os.path.getmtime(os.path.join(ROOT, name)) > installed_at for name in ("setup.py", "pyproject.toml")):
        return False
    return _met(dist.requires or [])


def _build_requirements_met() -> bool:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        requires = tomllib.load(f).get("build-system", {}).get("requires", [])
    return bool(requires) and _met(requires)


def _checkout_requirements() -> list[str] | None:
    """The ``install_requires`` list of this checkout's ``setup.py`` if it is a literal list, else None."""
    import ast

    with open(os.path.join(ROOT, "setup.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup":
            for keyword in node.keywords:
                if keyword.arg == "install_requires":
                    try:
                        value = ast.literal_eval(keyword.value)
                    except ValueError:
                        return None
                    return list(value) if all(isinstance(v, str) for v in value) else None
    return None


def main() -> str:
    try:
        if _installed_here():
            return "installed"
        if _build_requirements_met():
            requirements = _checkout_requirements()
            return "no-deps" if requirements is not None and _met(requirements) else "no-isolation"
    except Exception:  # noqa: BLE001 - any doubt: the full install
        pass
    return "full"


if __name__ == "__main__":
    print(main())
    sys.exit(0)
