"""LiveDashboard: one notebook output updated in place while training, then the epoch slider; terminal lines."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import make_tiny_model, tiny_data
from deepreplay.callbacks import ReplayData
from deepreplay.live import LiveDashboard

REPO = Path(__file__).resolve().parents[1]

TRAIN = """
import keras
from conftest import make_tiny_model, tiny_data
from deepreplay import LiveDashboard
from deepreplay.callbacks import ReplayData

keras.utils.set_random_seed(0)
X, y = tiny_data(40)
replaydata = ReplayData(X, y, "live.h5", "live")
live = LiveDashboard(replaydata, every=2, dpi=30)
model = make_tiny_model()
model.fit(X, y, epochs=6, batch_size=20, verbose=0, callbacks=[replaydata, live])
print("updates", live.updates)
"""


class CountingClient(NotebookClient):
    """Counts the kernel's display messages: new outputs, in-place updates, clears."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.counts = {"display_data": 0, "update_display_data": 0, "clear_output": 0}

    def process_message(self, msg, cell, cell_index):
        kind = msg["msg_type"]
        if kind in self.counts:
            self.counts[kind] += 1
        return super().process_message(msg, cell, cell_index)


def test_notebook_output_is_updated_in_place_then_becomes_the_slider(tmp_path, monkeypatch):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("%matplotlib inline"), nbformat.v4.new_code_cell(TRAIN)]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = CountingClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = notebook.cells[1].outputs
    assert not [o for o in outputs if o.output_type == "error"], outputs
    # one display (the placeholder), updated in place after epochs 2, 4, 6 and once more with the slider
    assert client.counts == {"display_data": 1, "update_display_data": 4, "clear_output": 0}
    assert any("updates 4" in o.get("text", "") for o in outputs if o.output_type == "stream")
    shown = [o for o in outputs if o.output_type == "display_data"]
    assert len(shown) == 1  # the one output, now the slider (no image left behind, no empty axes)
    assert "application/vnd.jupyter.widget-view+json" in shown[0].data


def test_terminal_prints_one_line_per_epoch(tmp_path, capsys):
    X, y = tiny_data(40)
    replaydata = ReplayData(X, y, str(tmp_path / "run.h5"), "run")
    live = LiveDashboard(replaydata, every=2)
    make_tiny_model().fit(X, y, epochs=3, batch_size=20, verbose=0, callbacks=[replaydata, live])
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("  ")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("loss" in line and "accuracy" in line for line in lines)
    assert live.updates == 0


def test_bad_arguments(tmp_path):
    X, y = tiny_data(40)
    replaydata = ReplayData(X, y, str(tmp_path / "run.h5"), "run")
    with pytest.raises(ValueError, match="every=0"):
        LiveDashboard(replaydata, every=0)
    with pytest.raises(TypeError, match="ReplayData"):
        LiveDashboard("run.h5")
