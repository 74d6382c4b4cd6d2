"""The canonical demo: steps_per_execution changes the speed of the Part 1 fit, not the recording."""

import os
from pathlib import Path

import numpy as np

from deepreplay.demo import PART1_STEPS_PER_EXECUTION, record_part1
from deepreplay.replay import Replay


def test_steps_per_execution_records_the_same_run(tmp_path):
    assert PART1_STEPS_PER_EXECUTION > 1
    filename = str(tmp_path / "part1.h5")
    record_part1(filename, "one_step", epochs=2, steps_per_execution=1, progress=False)
    record_part1(filename, "batched", epochs=2, progress=False)
    with Replay(filename, "one_step") as one, Replay(filename, "batched") as batched:
        assert list(one.epochs) == list(batched.epochs) == [0, 1, 2]
        for epoch in (1, 2):
            w1, w2 = one.weights_at(epoch), batched.weights_at(epoch)
            assert w1.keys() == w2.keys()
            for layer in w1:
                for name in w1[layer]:
                    np.testing.assert_allclose(w2[layer][name], w1[layer][name], rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(batched.predictions_at(epoch), one.predictions_at(epoch), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(batched.training_loss, one.training_loss, rtol=1e-6)
        # the updates moved the weights: the comparison is not between two untrained models
        assert not np.allclose(one.weights_at(2)["hidden"]["kernel"], one.weights_at(0)["hidden"]["kernel"])


def test_the_demo_fit_makes_the_updates_of_a_plain_keras_fit(tmp_path):
    """record_part1 gives Keras steps_per_epoch and steps_per_execution: the weights are those of a
    plain fit (one batch per call, Keras working out the epoch's batches itself), bit for bit."""
    import keras

    from deepreplay.datasets import parabola
    from deepreplay.demo import PART1_BATCH_SIZE, PART1_SEED, build_part1_model

    filename = str(tmp_path / "part1.h5")
    record_part1(filename, "demo", epochs=3, progress=False)
    keras.utils.set_random_seed(PART1_SEED)
    X, y = parabola.load_data()
    model = build_part1_model("sigmoid", steps_per_execution=1)
    model.fit(X, y, epochs=3, batch_size=PART1_BATCH_SIZE, verbose=0)
    with Replay(filename, "demo") as replay:
        recorded = replay.weights_at(3)
    for layer in ("hidden", "output"):
        kernel, bias = model.get_layer(layer).get_weights()
        np.testing.assert_allclose(recorded[layer]["kernel"], kernel, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(recorded[layer]["bias"], bias, rtol=1e-6, atol=1e-7)


def _install_check():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "install_check.py"
    spec = importlib.util.spec_from_file_location("install_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _FakeDistribution:
    """An editable install of ``root`` whose metadata was written at ``installed_at``."""

    def __init__(self, root, tmp_path, installed_at, requires):
        import json
        from pathlib import PurePosixPath

        self.url = json.dumps({"dir_info": {"editable": True}, "url": Path(root).as_uri()})
        self.base = tmp_path / "site-packages"
        (self.base / "deepreplay-0.2.0.dist-info").mkdir(parents=True)
        metadata = self.base / "deepreplay-0.2.0.dist-info" / "METADATA"
        metadata.write_text("Name: deepreplay\n")
        os.utime(metadata, (installed_at, installed_at))
        self.files = [PurePosixPath("deepreplay-0.2.0.dist-info/METADATA")]
        self.requires = requires

    def read_text(self, name):
        return self.url if name == "direct_url.json" else None

    def locate_file(self, path):
        return self.base / path


def test_demo_sh_installs_unless_this_checkout_is_installed_with_its_requirements(tmp_path, monkeypatch):
    """scripts/install_check.py: 'installed' only for the installed checkout itself, up to date, with every
    requirement met; any other checkout gets pip install -e . (without build isolation when it can)."""
    import importlib.metadata
    import shutil

    check = _install_check()
    numpy = importlib.metadata.version("numpy")
    assert check._met([f"numpy=={numpy}", "numpy>=1; python_version < '3'", 'pytest>=1; extra == "test"'])
    assert not check._met(["numpy>=9999"])
    assert not check._met(["no-such-distribution-deepreplay"])

    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("setup.py", "pyproject.toml"):
        shutil.copy(Path(check.ROOT) / name, clone / name)
        os.utime(clone / name, (1_000_000, 1_000_000))
    other = tmp_path / "elsewhere"
    monkeypatch.setattr(check, "ROOT", os.path.realpath(clone))
    cases = [
        (_FakeDistribution(clone, tmp_path / "a", 2_000_000, [f"numpy=={numpy}"]), "installed"),
        (_FakeDistribution(other, tmp_path / "b", 2_000_000, [f"numpy=={numpy}"]), None),  # another checkout
        (_FakeDistribution(clone, tmp_path / "c", 500_000, [f"numpy=={numpy}"]), None),  # setup.py newer
        (_FakeDistribution(clone, tmp_path / "d", 2_000_000, ["numpy>=9999"]), None),  # a requirement unmet
    ]
    requirements = check._checkout_requirements()
    assert "numpy>=1.26" in requirements  # setup.py's literal install_requires
    not_installed = ("full" if not check._build_requirements_met()
                     else "no-deps" if check._met(requirements) else "no-isolation")
    real = importlib.metadata.distribution
    for fake, expected in cases:
        monkeypatch.setattr(check.metadata, "distribution",
                            lambda name, fake=fake: fake if name == "deepreplay" else real(name))
        if expected == "installed":
            assert check._installed_here(), fake.url
        assert check.main() == (expected or not_installed), fake.url


def test_install_check_follows_requirements_down_with_their_extras(monkeypatch):
    """A requirement counts as met only if its own requirements are (with the extras asked for), as pip's."""
    import importlib.metadata
    from types import SimpleNamespace

    check = _install_check()
    installed = {"a": SimpleNamespace(version="1.0", requires=["b[x]>=1"]),
                 "b": SimpleNamespace(version="2.0", requires=['c; extra == "x"', 'd; extra == "y"'])}

    def distribution(name):
        if name not in installed:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed[name]

    monkeypatch.setattr(check.metadata, "distribution", distribution)
    assert not check._met(["a"])  # b[x] needs c, which is missing
    assert check._met(["b"])  # without the extra, c is not needed (nor d)
    installed["c"] = SimpleNamespace(version="0.1", requires=None)
    assert check._met(["a"])
    assert not check._met(["a>=2"])
