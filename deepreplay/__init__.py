"""deepreplay: replay how a Keras model trained, as pictures and animations.

Record with :class:`deepreplay.callbacks.ReplayData`, read back with
:class:`deepreplay.replay.Replay`.  Submodules are imported on demand so that
``import deepreplay`` stays light.
"""

__version__ = "0.2.0"
