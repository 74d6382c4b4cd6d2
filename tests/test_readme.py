"""The README's quick start runs as written (extracted from README.md, executed in a fresh folder)."""

import os
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

README = Path(__file__).resolve().parents[1] / "README.md"


def quick_start_code() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Quick start section must hold exactly one python block"
    return blocks[0]


def test_readme_quick_start_runs_as_written(tmp_path):
    code = quick_start_code()
    script = tmp_path / "quickstart.py"
    script.write_text("import matplotlib\nmatplotlib.use('Agg')\n" + code)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", MPLBACKEND="Agg",
               PYTHONPATH=str(README.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "quickstart.h5").exists()
    assert Image.open(tmp_path / "quickstart_epoch20.png").format == "PNG"
    assert Image.open(tmp_path / "quickstart.gif").n_frames == 21
    # Running it again must refuse to overwrite the recording, and say how to proceed.
    again = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, env=env,
                           timeout=600)
    assert again.returncode != 0
    assert "overwrite=True" in again.stderr


def test_every_long_module_is_explained_in_the_architecture_table():
    """A module of ``deepreplay/`` over 600 lines is named in the README's architecture table with its length."""
    text = README.read_text(encoding="utf-8")
    table = text.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `deepreplay/")]
    package = README.parent / "deepreplay"
    long = {}
    for path in sorted(package.rglob("*.py")):
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > 600:
            long[path.relative_to(README.parent).as_posix()] = n
    unexplained = []
    for module, n in long.items():
        name = module.rsplit("/", 1)[-1][:-3]
        explained = [row for row in rows if (f"`{module}`" in row or f"`{name}` (" in row) and "lines" in row]
        if not explained:
            unexplained.append(f"{module} ({n} lines)")
    assert unexplained == [], "say why in the README's architecture table, or split the module"
