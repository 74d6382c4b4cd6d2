"""Tests for deepreplay.plot.common: the checks, colours and region helpers the visuals share,
on plain arrays (no recording); and the rule that no module imports a sibling's private name."""

import ast
import pathlib

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba_array

from deepreplay import compute
from deepreplay.plot import base, common

PACKAGE = pathlib.Path(common.__file__).resolve().parents[1]


def test_check_flag_accepts_booleans_and_names_the_argument_otherwise():
    assert common.check_flag("display_grid", np.bool_(True)) is True
    assert common.check_flag("display_grid", False) is False
    with pytest.raises(TypeError, match=r"display_grid=1 must be True or False"):
        common.check_flag("display_grid", 1)
    assert common.check_optional_flag("display_regions", None) is None
    with pytest.raises(TypeError, match=r"display_regions='yes' must be True, False or None"):
        common.check_optional_flag("display_regions", "yes")


def test_check_axes_and_class_names():
    with pytest.raises(TypeError, match="expected a Matplotlib Axes, got Figure"):
        common.check_axes(plt.figure())
    assert common.check_class_names(["a", "b"]) == ("a", "b")
    assert common.check_class_names(None) is None
    for bad in ("ab", ["a", 1], 3):
        with pytest.raises(TypeError, match="class_names="):
            common.check_class_names(bad)


def test_resolve_class_names_defaults_and_count():
    binary = compute.infer_task(np.array([0, 1, 1]), 1)
    three = compute.infer_task(np.array([0, 1, 2]), 3)
    regression = compute.infer_task(np.array([0.5, 1.5, 2.5]), 1)
    assert common.resolve_class_names(None, binary) == common.BINARY_NAMES
    assert common.resolve_class_names(None, three) == ("class 0", "class 1", "class 2")
    assert common.resolve_class_names(("x", "y", "z"), three) == ("x", "y", "z")
    assert common.resolve_class_names(None, regression) is None
    with pytest.raises(ValueError, match="has 2 names for 3 classes"):
        common.resolve_class_names(("x", "y"), three)


def test_class_colors_keep_the_binary_pair_and_spread_more_classes():
    assert common.class_colors(2) == common.CLASS_COLORS == (common.NEGATIVE_COLOR, common.POSITIVE_COLOR)
    many = common.class_colors(12)
    assert len(set(many)) == 12
    np.testing.assert_allclose(common.class_rgb(3), to_rgba_array(common.class_colors(3))[:, :3])
    with pytest.raises(ValueError, match="n_classes=0"):
        common.class_colors(0)


def test_base_re_exports_the_same_objects():
    for name in ("CLASS_COLORS", "CLASS_PALETTE", "MISCLASSIFIED_COLOR", "NEGATIVE_COLOR", "POSITIVE_COLOR",
                 "check_title", "class_colors"):
        assert getattr(base, name) is getattr(common, name)


def test_region_grid_is_cell_centres_row_by_row():
    points = common.region_grid((0.0, 4.0), (0.0, 2.0), 4)
    assert points.shape == (16, 2) and points.dtype == np.float32
    np.testing.assert_allclose(points[:4, 0], [0.5, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(points[::4, 1], [0.25, 0.75, 1.25, 1.75])
    assert common.region_extent((0, 4), (0, 2)) == (0.0, 4.0, 0.0, 2.0)


def test_region_buffer_binary_and_multiclass():
    binary = common.RegionBuffer(compute.infer_task(np.array([0, 1]), 1), False, n_epochs=2, resolution=2)
    binary.set(1, np.array([[0.1], [0.6], [0.4], [0.9]], dtype=np.float32))
    np.testing.assert_allclose(binary.probabilities[1], [[0.1, 0.6], [0.4, 0.9]], rtol=1e-6)
    np.testing.assert_array_equal(binary.predicted[1], [[0, 1], [0, 1]])

    three = common.RegionBuffer(compute.infer_task(np.array([0, 1, 2]), 3), True, n_epochs=1, resolution=1)
    three.set(0, np.array([[0.0, 3.0, 0.0]]))
    assert three.predicted[0, 0, 0] == 1
    assert three.rgba.shape == (1, 1, 1, 4)
    np.testing.assert_allclose(three.probabilities[0].sum(), 1.0, rtol=1e-6)


def test_check_probabilities_and_not_a_classifier():
    common.check_probabilities(np.array([0.0, 0.5, 1.0 + 1e-7]), epoch=3)
    with pytest.raises(ValueError, match="outputs at epoch 3 are not probabilities"):
        common.check_probabilities(np.array([0.2, 1.5]), epoch=3)
    message = common.not_a_classifier("the cross-entropy view", compute.infer_task(np.array([0.5, 2.5]), 1))
    assert message.startswith("the cross-entropy view shows") and "replay.build_loss_histogram" in message


def _private_imports(path: pathlib.Path) -> list[str]:
    """``from <sibling> import _name`` and ``<sibling module>._name`` in one module of the package."""
    tree = ast.parse(path.read_text())
    package_dir = path.parent
    found, modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("deepreplay")):
            for alias in node.names:
                if not alias.name.startswith("_") or alias.name.startswith("__"):  # dunders (__version__) are public
                    if (package_dir / f"{alias.name}.py").exists() or (package_dir / alias.name).is_dir():
                        modules.add(alias.asname or alias.name)
                    continue
                if node.level:
                    base_dir = package_dir.parents[node.level - 2] if node.level > 1 else package_dir
                    target = base_dir.joinpath(*node.module.split(".")) if node.module else base_dir
                else:
                    target = PACKAGE.parent.joinpath(*node.module.split("."))
                if (target / f"{alias.name}.py").exists() or (target / alias.name).is_dir():
                    modules.add(alias.asname or alias.name)  # a private module of the package itself (_backend)
                    continue
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {alias.name} from "
                             f"{'.' * node.level}{node.module or ''}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_no_module_imports_a_private_name_of_a_sibling():
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) for hit in _private_imports(path)]
    assert found == []


def test_the_private_import_check_finds_one(tmp_path):
    module = tmp_path / "pkg" / "visual.py"
    module.parent.mkdir()
    (module.parent / "other.py").write_text("def _helper(): pass\n")
    module.write_text("from .other import _helper\nfrom . import other\nother._helper()\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path
    try:
        assert len(_private_imports(module)) == 2
    finally:
        PACKAGE = saved


@pytest.mark.parametrize("name, label", [("accuracy", "Accuracy"), ("cls_accuracy", "Cls accuracy"),
                                         ("AUC", "AUC"), ("mean_absolute_error", "Mean absolute error")])
def test_metric_label_raises_the_first_letter_only(name, label):
    assert common.metric_label(name) == label
