"""``deepreplay compare FILE GROUP [GROUP ...] -o OUT``: several recordings side by side."""

import pytest
from PIL import Image

from deepreplay.cli import main


def test_compare_writes_a_gif_stepping_both_runs_and_a_png(two_runs, tmp_path, capsys):
    filename, groups = two_runs
    gif = tmp_path / "cmp.gif"
    assert main(["compare", filename, *groups, "-o", str(gif), "--dpi", "30"]) == 0
    assert "(5 frames)" in capsys.readouterr().out  # sgd records epochs 0..4, adam 0, 2, 4
    with Image.open(gif) as image:
        assert image.n_frames == 5
    png = tmp_path / "cmp.png"
    assert main(["compare", filename, *groups, "-o", str(png), "--epoch", "3", "--dpi", "30"]) == 0
    assert "epoch 3" in capsys.readouterr().out and png.stat().st_size > 0


def test_compare_errors_are_one_line(two_runs, tmp_path, capsys):
    filename, groups = two_runs
    assert main(["compare", filename, groups[0], "nope", "-o", str(tmp_path / "x.gif")]) == 1
    err = capsys.readouterr().err
    assert "nope" in err and len(err.strip().splitlines()) == 1
    assert main(["compare", filename, groups[0], "-o", str(tmp_path / "x.txt")]) == 1
    assert "choose a file ending" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare", filename, "-o", str(tmp_path / "x.gif")])  # no group
