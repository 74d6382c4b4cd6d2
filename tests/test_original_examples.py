"""The code of DeepReplay 0.1.2a2's six example scripts and four notebooks runs on deepreplay.

Each test below is written from what the original file does (dvgodoy/deepreplay,
``examples/*.py`` and ``notebooks/*.ipynb``): the same imports, the same model
building, the same ``ReplayData`` / ``Replay`` / ``build_*`` / ``compose_*`` /
``plot`` / ``animate`` calls with the same arguments, by position where the
original passed them by position.  The only changes:

* the two edits Keras 3 itself forces: ``SGD(lr=...)`` -> ``SGD(learning_rate=...)``
  and ``keras.initializers.normal`` -> ``RandomNormal``;
* fewer epochs and samples, a lower dpi and an epoch within the shorter run
  for ``compose_plots`` (the originals used 150-300 epochs, 2,000 samples,
  dpi 120 and epoch 80/280), to keep the suite fast;
* the UCI Spambase data is a download: a generated stand-in of the same shape
  (57 features, binary target; scikit-learn ``make_classification``) is used.

Each test asserts that every deepreplay call returns what the original
returned (a plotter, a figure, an animation) and that the figures and
animations are written.
"""

import os

import matplotlib.pyplot as plt
import pytest
from IPython.display import HTML
from matplotlib.figure import Figure
from PIL import Image

from deepreplay.plot import Plotter, ReplayAnimation

EPOCHS = 2  # the originals: 100-300
SAMPLES = 200  # the originals: 2,000 (parabola, moons, circles), 4,601 (spambase)
DPI = 30  # the originals: 120

pytestmark = [
    # Keras 3 warns about Dense(input_dim=...), which every original model uses; it still works.
    pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`/`input_dim` argument to a layer:UserWarning"),
]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEEPREPLAY_PROGRESS", "0")


def written(path, kind=None):
    assert os.path.getsize(path) > 1000, path
    if kind == "png":
        assert Image.open(path).format == "PNG"


def check_visuals(*visuals):
    for visual in visuals:
        assert isinstance(visual, Plotter)


def part1_figure_and_visuals(replay):
    """The Part 1 / moons / circles / spambase figure: feature space, probabilities, loss and metric, losses."""
    fig = plt.figure(figsize=(12, 6))
    ax_fs = plt.subplot2grid((2, 4), (0, 0), colspan=2, rowspan=2)
    ax_ph_neg = plt.subplot2grid((2, 4), (0, 2))
    ax_ph_pos = plt.subplot2grid((2, 4), (1, 2))
    ax_lm = plt.subplot2grid((2, 4), (0, 3))
    ax_lh = plt.subplot2grid((2, 4), (1, 3))
    return fig, ax_fs, ax_ph_neg, ax_ph_pos, ax_lm, ax_lh


# -- examples/part1_activation_functions.py --------------------------------------------------------------
def test_example_part1_activation_functions():
    from keras.initializers import RandomNormal, glorot_normal  # Keras 3: normal -> RandomNormal
    from keras.layers import Dense
    from keras.models import Sequential
    from keras.optimizers import SGD

    from deepreplay import Replay
    from deepreplay.callbacks import ReplayData
    from deepreplay.datasets.parabola import load_data
    from deepreplay.plot import compose_animations, compose_plots

    group_name = 'part1_activation_functions'
    X, y = load_data(n_points=SAMPLES // 2)
    sgd = SGD(learning_rate=0.05)  # Keras 3: lr= -> learning_rate=
    glorot_initializer = glorot_normal(seed=42)
    normal_initializer = RandomNormal(seed=42)
    replaydata = ReplayData(X, y, filename='hyperparms_in_action.h5', group_name=group_name)

    model = Sequential()
    model.add(Dense(input_dim=2, units=2, kernel_initializer=glorot_initializer, activation='sigmoid',
                    name='hidden'))
    model.add(Dense(units=1, kernel_initializer=normal_initializer, activation='sigmoid', name='output'))
    model.compile(loss='binary_crossentropy', optimizer=sgd, metrics=['acc'])
    model.fit(X, y, epochs=EPOCHS, batch_size=16, callbacks=[replaydata], verbose=0)

    replay = Replay(replay_filename='hyperparms_in_action.h5', group_name=group_name)
    fig, ax_fs, ax_ph_neg, ax_ph_pos, ax_lm, ax_lh = part1_figure_and_visuals(replay)
    fs = replay.build_feature_space(ax_fs, layer_name='hidden')
    ph = replay.build_probability_histogram(ax_ph_neg, ax_ph_pos)
    lh = replay.build_loss_histogram(ax_lh)
    lm = replay.build_loss_and_metric(ax_lm, 'acc')
    check_visuals(fs, ph, lh, lm)

    sample_figure = compose_plots([fs, ph, lm, lh], EPOCHS)
    sample_figure.savefig('part1.png', dpi=DPI, format='png')
    sample_anim = compose_animations([fs, ph, lm, lh])
    sample_anim.save(filename='part1.mp4', dpi=DPI, fps=5)
    written('part1.png', 'png')
    written('part1.mp4')
    assert sample_anim.epochs == list(range(EPOCHS + 1))


# -- examples/part2_weight_initializers.py ---------------------------------------------------------------
def test_example_part2_weight_initializers():
    from keras.initializers import he_uniform
    from keras.layers import Dense
    from keras.models import Sequential

    from deepreplay.callbacks import ReplayData
    from deepreplay.datasets.ball import load_data
    from deepreplay.plot import compose_plots
    from deepreplay.replay import Replay

    def build_model(n_layers, input_dim, units, activation, initializer):
        if isinstance(units, list):
            assert len(units) == n_layers
        else:
            units = [units] * n_layers
        model = Sequential()
        model.add(Dense(units=units[0], input_dim=input_dim, activation=activation,
                        kernel_initializer=initializer, name='h1'))
        for i in range(2, n_layers + 1):
            model.add(Dense(units=units[i - 1], activation=activation, kernel_initializer=initializer,
                            name='h{}'.format(i)))
        model.add(Dense(units=1, activation='sigmoid', kernel_initializer=initializer, name='o'))
        model.compile(loss='binary_crossentropy', optimizer='sgd', metrics=['acc'])
        return model

    X, y = load_data(n_dims=10, n_points=SAMPLES)
    filename = 'part2_weight_initializers.h5'
    activation = 'relu'
    initializer = he_uniform(seed=13)
    title = 'Activation: ReLU - Initializer: He Uniform'
    group_name = 'relu_he_uniform'

    model = build_model(n_layers=5, input_dim=10, units=100, activation=activation, initializer=initializer)
    replaydata = ReplayData(X, y, filename=filename, group_name=group_name, model=model)
    replay = Replay(replay_filename=filename, group_name=group_name)

    fig = plt.figure(figsize=(12, 6))
    ax_zvalues = plt.subplot2grid((2, 2), (0, 0))
    ax_weights = plt.subplot2grid((2, 2), (0, 1))
    ax_activations = plt.subplot2grid((2, 2), (1, 0))
    ax_gradients = plt.subplot2grid((2, 2), (1, 1))

    wv = replay.build_weights(ax_weights)
    gv = replay.build_gradients(ax_gradients)
    zv = replay.build_outputs(ax_zvalues, before_activation=True, exclude_outputs=True, include_inputs=False)
    av = replay.build_outputs(ax_activations, exclude_outputs=True, include_inputs=False)
    check_visuals(wv, gv, zv, av)

    fig = compose_plots([zv, wv, av, gv], epoch=0, title=title)
    fig.savefig('part2.png', format='png', dpi=DPI)
    written('part2.png', 'png')
    assert replaydata.group_name == group_name
    assert wv.data.layers == ('h1', 'h2', 'h3', 'h4', 'h5') and zv.data.layers == wv.data.layers
    assert fig._suptitle.get_text() == f'{title} - Epoch: 0'


# -- examples/moons_dataset.py and notebooks/moons_dataset.ipynb -------------------------------------------
def _moons():
    from keras.initializers import RandomNormal, glorot_normal
    from keras.layers import Dense
    from keras.models import Sequential
    from keras.optimizers import SGD
    from sklearn.datasets import make_moons

    from deepreplay.callbacks import ReplayData
    from deepreplay.plot import compose_animations, compose_plots
    from deepreplay.replay import Replay

    group_name = 'moons'
    X, y = make_moons(n_samples=SAMPLES, random_state=27, noise=0.03)
    sgd = SGD(learning_rate=0.01)
    glorot_initializer = glorot_normal(seed=42)
    normal_initializer = RandomNormal(seed=42)
    replaydata = ReplayData(X, y, filename='moons_dataset.h5', group_name=group_name)

    model = Sequential()
    model.add(Dense(input_dim=2, units=4, kernel_initializer=glorot_initializer, activation='tanh'))
    model.add(Dense(units=2, kernel_initializer=glorot_initializer, activation='tanh', name='hidden'))
    model.add(Dense(units=1, kernel_initializer=normal_initializer, activation='sigmoid', name='output'))
    model.compile(loss='binary_crossentropy', optimizer=sgd, metrics=['acc'])
    model.fit(X, y, epochs=EPOCHS, batch_size=16, callbacks=[replaydata], verbose=0)

    replay = Replay(replay_filename='moons_dataset.h5', group_name=group_name)
    results = []
    for notebook in (False, True):  # the script, then the notebook (which keeps the scale fixed)
        fig, ax_fs, ax_ph_neg, ax_ph_pos, ax_lm, ax_lh = part1_figure_and_visuals(replay)
        if notebook:
            fs = replay.build_feature_space(ax_fs, layer_name='hidden', xlim=(-1, 2), ylim=(-.5, 1),
                                            display_grid=False)
        else:
            fs = replay.build_feature_space(ax_fs, layer_name='hidden', xlim=(-1, 2), ylim=(-.5, 1),
                                            display_grid=False, scale_fixed=False)
        ph = replay.build_probability_histogram(ax_ph_neg, ax_ph_pos)
        lh = replay.build_loss_histogram(ax_lh)
        lm = replay.build_loss_and_metric(ax_lm, 'acc')
        check_visuals(fs, ph, lh, lm)
        sample_figure = compose_plots([fs, ph, lm, lh], EPOCHS)
        sample_anim = compose_animations([fs, ph, lm, lh])
        results.append((sample_figure, sample_anim))
    return results


def test_example_and_notebook_moons_dataset():
    (sample_figure, sample_anim), (nb_figure, nb_anim) = _moons()
    # the example script
    sample_figure.savefig('moons.png', dpi=DPI, format='png')
    sample_anim.save(filename='moons.mp4', dpi=DPI, fps=5)
    written('moons.png', 'png')
    written('moons.mp4')
    # the notebook: the figure is the cell's value, the animation an HTML5 video
    assert isinstance(nb_figure, Figure)
    nb_figure.set_dpi(DPI)
    video = HTML(nb_anim.to_html5_video())
    assert "<video" in video.data and "base64" in video.data


# -- examples/circles_dataset.py and notebooks/circles_dataset.ipynb ----------------------------------------
def _circles():
    from keras.initializers import RandomNormal, he_normal
    from keras.layers import Activation, Dense
    from keras.models import Sequential
    from keras.optimizers import SGD
    from sklearn.datasets import make_circles

    from deepreplay.callbacks import ReplayData
    from deepreplay.plot import compose_animations, compose_plots
    from deepreplay.replay import Replay

    group_name = 'circles'
    X, y = make_circles(n_samples=SAMPLES, random_state=27, noise=0.03)
    sgd = SGD(learning_rate=0.01)
    he_initializer = he_normal(seed=42)
    normal_initializer = RandomNormal(seed=42)
    replaydata = ReplayData(X, y, filename='circles_dataset.h5', group_name=group_name)

    model = Sequential()
    model.add(Dense(input_dim=2, units=5, kernel_initializer=he_initializer))
    model.add(Activation('relu'))
    model.add(Dense(units=3, kernel_initializer=he_initializer))
    model.add(Activation('relu'))
    model.add(Dense(units=2, kernel_initializer=normal_initializer, activation='linear', name='hidden'))
    model.add(Dense(units=1, kernel_initializer=normal_initializer, activation='sigmoid', name='output'))
    model.compile(loss='binary_crossentropy', optimizer=sgd, metrics=['acc'])
    model.fit(X, y, epochs=EPOCHS, batch_size=16, callbacks=[replaydata], verbose=0)

    replay = Replay(replay_filename='circles_dataset.h5', group_name=group_name)
    results = []
    for _ in ('script', 'notebook'):  # the same cells in both
        fig, ax_fs, ax_ph_neg, ax_ph_pos, ax_lm, ax_lh = part1_figure_and_visuals(replay)
        fs = replay.build_feature_space(ax_fs, layer_name='hidden', display_grid=False, scale_fixed=False)
        ph = replay.build_probability_histogram(ax_ph_neg, ax_ph_pos)
        lh = replay.build_loss_histogram(ax_lh)
        lm = replay.build_loss_and_metric(ax_lm, 'acc')
        check_visuals(fs, ph, lh, lm)
        sample_figure = compose_plots([fs, ph, lm, lh], EPOCHS)
        sample_anim = compose_animations([fs, ph, lm, lh])
        results.append((sample_figure, sample_anim))
    return results


def test_example_and_notebook_circles_dataset():
    (sample_figure, sample_anim), (nb_figure, nb_anim) = _circles()
    # the example script
    sample_figure.savefig('circles.png', dpi=DPI, format='png')
    sample_anim.save(filename='circles.mp4', dpi=DPI, fps=5)
    written('circles.png', 'png')
    written('circles.mp4')
    # the notebook: the figure is the cell's value, the animation an HTML5 video
    assert isinstance(nb_figure, Figure)
    nb_figure.set_dpi(DPI)
    video = HTML(nb_anim.to_html5_video())
    assert "<video" in video.data and "base64" in video.data


# -- examples/uci_spambase_dataset.py and notebooks/UCI_spambase_dataset.ipynb ------------------------------
def _spambase():
    from keras.initializers import RandomNormal, he_normal
    from keras.layers import Dense
    from keras.models import Sequential
    from sklearn.datasets import make_classification
    from sklearn.preprocessing import StandardScaler

    from deepreplay.callbacks import ReplayData
    from deepreplay.plot import compose_animations, compose_plots
    from deepreplay.replay import Replay

    group_name = 'spam'
    # Stand-in for pd.read_csv('spambase.data'): 57 features and a binary target, as the UCI file.
    X, y = make_classification(n_samples=SAMPLES, n_features=57, n_informative=10, random_state=42)
    X = StandardScaler().fit_transform(X)
    he_initializer = he_normal(seed=42)
    normal_initializer = RandomNormal(seed=42)
    replaydata = ReplayData(X, y, filename='spambase_dataset.h5', group_name=group_name)

    model = Sequential()
    model.add(Dense(input_dim=57, units=10, kernel_initializer=he_initializer, activation='tanh'))
    model.add(Dense(units=2, kernel_initializer=normal_initializer, activation='linear', name='hidden'))
    model.add(Dense(units=1, kernel_initializer=normal_initializer, activation='sigmoid', name='output'))
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['acc'])
    model.fit(X, y, epochs=EPOCHS, batch_size=16, callbacks=[replaydata], verbose=0)

    replay = Replay(replay_filename='spambase_dataset.h5', group_name=group_name)
    results = []
    for _ in ('script', 'notebook'):  # the same cells in both
        fig, ax_fs, ax_ph_neg, ax_ph_pos, ax_lm, ax_lh = part1_figure_and_visuals(replay)
        fs = replay.build_feature_space(ax_fs, layer_name='hidden', display_grid=False, scale_fixed=False)
        ph = replay.build_probability_histogram(ax_ph_neg, ax_ph_pos)
        lh = replay.build_loss_histogram(ax_lh)
        lm = replay.build_loss_and_metric(ax_lm, 'acc')
        check_visuals(fs, ph, lh, lm)
        sample_figure = compose_plots([fs, ph, lm, lh], EPOCHS)
        sample_anim = compose_animations([fs, ph, lm, lh])
        results.append((sample_figure, sample_anim))
    return results


def test_example_and_notebook_uci_spambase_dataset():
    (sample_figure, sample_anim), (nb_figure, nb_anim) = _spambase()
    # the example script
    sample_figure.savefig('spambase.png', dpi=DPI, format='png')
    sample_anim.save(filename='spambase.mp4', dpi=DPI, fps=5)
    written('spambase.png', 'png')
    written('spambase.mp4')
    # the notebook: the figure is the cell's value, the animation an HTML5 video
    assert isinstance(nb_figure, Figure)
    nb_figure.set_dpi(DPI)
    video = HTML(nb_anim.to_html5_video())
    assert "<video" in video.data and "base64" in video.data


# -- examples/comparison_activation_functions.py ---------------------------------------------------------
def test_example_comparison_activation_functions():
    from keras.initializers import RandomNormal, glorot_normal
    from keras.layers import Dense
    from keras.models import Sequential
    from keras.optimizers import SGD

    from deepreplay.callbacks import ReplayData
    from deepreplay.datasets.parabola import load_data
    from deepreplay.plot import compose_animations, compose_plots
    from deepreplay.replay import Replay

    X, y = load_data(n_points=SAMPLES // 2)
    for activation in ['sigmoid', 'tanh', 'relu']:
        # The original made one SGD(lr=0.05) before the loop; a Keras 3 optimizer serves the one model it was
        # first used with ("Unknown variable ... recreate a new optimizer instance"), so one per model here.
        sgd = SGD(learning_rate=0.05)
        glorot_initializer = glorot_normal(seed=42)
        normal_initializer = RandomNormal(seed=42)
        replaydata = ReplayData(X, y, filename='comparison_activation_functions.h5', group_name=activation)
        model = Sequential()
        model.add(Dense(input_dim=2, units=2, kernel_initializer=glorot_initializer, activation=activation,
                        name='hidden'))
        model.add(Dense(units=1, kernel_initializer=normal_initializer, activation='sigmoid', name='output'))
        model.compile(loss='binary_crossentropy', optimizer=sgd, metrics=['acc'])
        model.fit(X, y, epochs=EPOCHS, batch_size=16, callbacks=[replaydata], verbose=0)

    fig, axs = plt.subplots(1, 3, figsize=(12, 4))
    replays = []
    for activation in ['sigmoid', 'tanh', 'relu']:
        replays.append(Replay(replay_filename='comparison_activation_functions.h5', group_name=activation))
    spaces = []
    for ax, replay, activation in zip(axs, replays, ['sigmoid', 'tanh', 'relu']):
        space = replay.build_feature_space(ax, layer_name='hidden')
        space.set_title(activation)
        spaces.append(space)
    check_visuals(*spaces)

    sample_figure = compose_plots(spaces, EPOCHS)
    sample_figure.savefig('comparison.png', dpi=DPI, format='png')
    sample_anim = compose_animations(spaces)  # commented out in the latest original; kept here as a GIF
    sample_anim.save(filename='comparison.gif', dpi=DPI, fps=5)
    written('comparison.png', 'png')
    assert Image.open('comparison.gif').n_frames == EPOCHS + 1
    assert [ax.get_title() for ax in axs] == [f'{a} - Feature Space - Layer: hidden' for a in ['sigmoid', 'tanh',
                                                                                              'relu']]


# -- notebooks/part1_activation_functions.ipynb -----------------------------------------------------------
def test_notebook_part1_activation_functions():
    from keras.initializers import RandomNormal, glorot_normal
    from keras.layers import Dense
    from keras.models import Sequential
    from keras.optimizers import SGD

    from deepreplay.callbacks import ReplayData
    from deepreplay.datasets.parabola import load_data
    from deepreplay.plot import compose_animations, compose_plots
    from deepreplay.replay import Replay

    group_name = 'part1_activation_functions'
    X, y = load_data(n_points=SAMPLES // 2)
    replaydata = ReplayData(X, y, filename='hyperparms_in_action.h5', group_name=group_name)

    sgd = SGD(learning_rate=0.05)
    glorot_initializer = glorot_normal(seed=42)
    normal_initializer = RandomNormal(seed=42)
    model = Sequential()
    model.add(Dense(input_dim=2, units=2, kernel_initializer=glorot_initializer, activation='sigmoid',
                    name='hidden'))
    model.add(Dense(units=1, kernel_initializer=normal_initializer, activation='sigmoid', name='output'))
    model.compile(loss='binary_crossentropy', optimizer=sgd, metrics=['acc'])
    model.summary(print_fn=lambda *args, **kwargs: None)
    model.fit(X, y, epochs=EPOCHS, batch_size=16, callbacks=[replaydata], verbose=0)

    replay = Replay(replay_filename='hyperparms_in_action.h5', group_name=group_name)
    fig, ax_fs, ax_ph_neg, ax_ph_pos, ax_lm, ax_lh = part1_figure_and_visuals(replay)
    fs = replay.build_feature_space(ax_fs, layer_name='hidden')
    ph = replay.build_probability_histogram(ax_ph_neg, ax_ph_pos)
    lh = replay.build_loss_histogram(ax_lh)
    lm = replay.build_loss_and_metric(ax_lm, 'acc')
    check_visuals(fs, ph, lh, lm)

    # One visual at a time, then all together (the notebook's cells).
    for visual in (fs, ph, lm, lh):
        assert visual.plot(EPOCHS) is fig
    fs.plot(epoch=1).savefig('feature_space_epoch1.png', dpi=DPI)
    written('feature_space_epoch1.png', 'png')
    anim = fs.animate()
    assert isinstance(anim, ReplayAnimation) and anim.epochs == list(range(EPOCHS + 1))
    anim.save('feature_space_animation.gif', dpi=DPI, fps=5)
    assert Image.open('feature_space_animation.gif').n_frames == EPOCHS + 1

    sample_figure = compose_plots([fs, ph, lm, lh], EPOCHS)
    assert sample_figure is fig
    sample_figure.set_dpi(DPI)
    sample_anim = compose_animations([fs, ph, lm, lh])
    assert "<video" in HTML(sample_anim.to_html5_video()).data
