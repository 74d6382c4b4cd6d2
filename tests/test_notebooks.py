"""Every notebook under notebooks/ runs top to bottom without an error (executed with nbclient).

The notebooks train for ``DEEPREPLAY_NOTEBOOK_EPOCHS`` epochs when it is set (their own
numbers otherwise: 60 or 150).  These tests set it to ``NOTEBOOK_EPOCHS`` (12) unless the
environment already sets it, so CI runs every cell, with every assertion, on shorter runs;
``DEEPREPLAY_NOTEBOOK_EPOCHS=150 pytest tests/test_notebooks.py`` executes them as published.
"""

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
REPO = Path(__file__).resolve().parents[1]
#: Epochs the notebooks train for in CI (see the module notes).
NOTEBOOK_EPOCHS = "12"


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    work = tmp_path / path.stem
    work.mkdir()
    shutil.copy(path, work / path.name)
    notebook = nbformat.read(work / path.name, as_version=4)
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("DEEPREPLAY_NOTEBOOK_EPOCHS", os.environ.get("DEEPREPLAY_NOTEBOOK_EPOCHS") or NOTEBOOK_EPOCHS)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(work)}})
    client.execute()
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors
    # every notebook shows at least one picture or animation inline
    shown = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
             if "image/png" in output.get("data", {}) or "text/html" in output.get("data", {})]
    assert shown
