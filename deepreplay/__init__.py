"""deepreplay: replay how a Keras model trained, as pictures and animations.

Record with :class:`deepreplay.callbacks.ReplayData`, read back with
:class:`deepreplay.replay.Replay`.  Submodules are imported on demand so that
``import deepreplay`` stays light.
"""

__version__ = "0.2.0"

__all__ = ["LiveDashboard", "Replay", "ReplayData"]


def __getattr__(name: str):
    # ``from deepreplay import Replay`` (as DeepReplay 0.1 allowed), importing Keras only when asked.
    if name == "Replay":
        from .replay import Replay

        return Replay
    if name == "ReplayData":
        from .callbacks import ReplayData

        return ReplayData
    if name == "LiveDashboard":
        from .live import LiveDashboard

        return LiveDashboard
    raise AttributeError(f"module 'deepreplay' has no attribute {name!r}")
