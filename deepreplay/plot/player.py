"""The HTML player of an animation: the project's own page, with every frame embedded.

A saved ``.html`` file and a notebook's inline animation are this player.  It
needs nothing outside the page: no CDN, no web font, no image file; the frames
are ``data:`` URLs, the icons inline SVG, the script and style inline.  It is
hand-written (about 150 lines of HTML, CSS and JavaScript) because the player
Matplotlib ships lives in a private module (``matplotlib._animation_data``) and
loads its icons from a CDN.

Controls
--------
Everything lives in one ``<div class="deepreplay-player">`` (the *root*).
Every control carries ``data-role="<name>"``; in a saved page
(:func:`player_page`) it also has ``id="<name>"`` and the root has
``id="player"``.  In a notebook, where several players share a page, the ids
are prefixed with the root's unique id (``<root id>-<name>``); look controls up
by ``data-role`` inside the root to cover both.

========== ======================================================================
name       element and behaviour
========== ======================================================================
``frame``  ``<img>``: the frame shown (``src`` is the frame's data URL)
``slider`` ``<input type="range">`` from 0 to N-1: moving it pauses and shows that frame
``counter`` ``<span>``: "k / N" (1-based)
``first``  button: pause, show frame 0
``prev``   button: pause, show the previous frame (stays at 0)
``reverse`` button: play backwards
``pause``  button: stop playing
``play``   button: play forwards
``next``   button: pause, show the next frame (stays at N-1)
``last``   button: pause, show frame N-1
``slower`` button: 1.5x the interval between frames
``faster`` button: the interval divided by 1.5
``once``, ``loop``, ``reflect``  radio buttons (``data-role="mode"``, ``value`` the mode): at either
           end, stop / jump to the other end / turn back
========== ======================================================================

The root's attributes follow the state: ``data-frame`` (the index shown, from
0), ``data-playing`` ("true"/"false"), ``data-interval`` (milliseconds between
frames) and ``data-mode``.  The player starts paused on frame 0.
"""

from __future__ import annotations

import base64
import html as html_module
import math
import uuid
from collections.abc import Sequence

__all__ = ["MODES", "embedded_size", "player_html", "player_page"]

#: What the player does at either end while playing.
MODES = ("once", "loop", "reflect")

#: Inline SVG paths (16 x 16 view box) of the buttons, in the order they are shown.
_BUTTONS = (
    ("slower", "Slower", "M2 7h12v2H2z"),
    ("first", "First frame", "M2 2h2v12H2zM15 2v12L5 8z"),
    ("prev", "Previous frame", "M10 2v12L3 8zM11 2h2v12h-2z"),
    ("reverse", "Play backwards", "M13 2v12L3 8z"),
    ("pause", "Pause", "M3 2h3v12H3zM10 2h3v12h-3z"),
    ("play", "Play", "M3 2v12l10-6z"),
    ("next", "Next frame", "M3 2h2v12H3zM6 2v12l7-6z"),
    ("last", "Last frame", "M1 2v12l10-6zM12 2h2v12h-2z"),
    ("faster", "Faster", "M7 2h2v5h5v2H9v5H7V9H2V7h5z"),
)

_STYLE = """<style>
.deepreplay-player { display: inline-block; font-family: sans-serif; font-size: 13px; color: #222; }
.deepreplay-player img { display: block; max-width: 100%; }
.deepreplay-player .dr-bar { display: flex; align-items: center; gap: 8px; margin: 4px 0; }
.deepreplay-player input[type=range] { flex: 1; }
.deepreplay-player button { width: 30px; height: 26px; padding: 0; margin: 0 1px; cursor: pointer;
  border: 1px solid #999; border-radius: 3px; background: #f4f4f4; }
.deepreplay-player button svg { width: 14px; height: 14px; fill: #333; vertical-align: middle; }
.deepreplay-player .dr-modes label { margin-right: 8px; }
.deepreplay-player .dr-caption { font-size: smaller; color: #555; }
</style>
"""

# The player's behaviour; ``root`` is the player's <div>, ``frames`` the data URLs.
_SCRIPT = """function DeepReplayPlayer(root, frames, interval, mode) {
  var n = frames.length, index = 0, direction = 1, timer = null;
  function part(role) { return root.querySelector('[data-role="' + role + '"]'); }
  var img = part("frame"), slider = part("slider"), counter = part("counter");
  function show(i) {
    index = Math.max(0, Math.min(n - 1, i));
    img.src = frames[index];
    slider.value = index;
    counter.textContent = (index + 1) + " / " + n;
    root.setAttribute("data-frame", index);
  }
  function pause() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    root.setAttribute("data-playing", "false");
  }
  function advance() {
    var i = index + direction;
    if (i < 0 || i >= n) {
      if (mode === "loop") { i = direction > 0 ? 0 : n - 1; }
      else if (mode === "reflect" && n > 1) { direction = -direction; i = index + direction; }
      else { pause(); return; }
    }
    show(i);
  }
  function play(dir) {
    pause();
    direction = dir;
    timer = setInterval(advance, interval);
    root.setAttribute("data-playing", "true");
  }
  function setInterval_(ms) {
    interval = ms;
    root.setAttribute("data-interval", Math.round(interval));
    if (timer !== null) { play(direction); }
  }
  part("first").onclick = function () { pause(); show(0); };
  part("prev").onclick = function () { pause(); show(index - 1); };
  part("reverse").onclick = function () { play(-1); };
  part("pause").onclick = pause;
  part("play").onclick = function () { play(1); };
  part("next").onclick = function () { pause(); show(index + 1); };
  part("last").onclick = function () { pause(); show(n - 1); };
  part("slower").onclick = function () { setInterval_(interval * 1.5); };
  part("faster").onclick = function () { setInterval_(interval / 1.5); };
  slider.oninput = function () { pause(); show(parseInt(slider.value, 10)); };
  root.querySelectorAll('[data-role="mode"]').forEach(function (radio) {
    radio.onchange = function () { if (radio.checked) { mode = radio.value; root.setAttribute("data-mode", mode); } };
  });
  root.setAttribute("data-mode", mode);
  setInterval_(interval);
  pause();
  show(0);
}
"""


def embedded_size(frames: Sequence[bytes]) -> int:
    """Bytes the frames take once base64-encoded in the page."""
    return sum(4 * math.ceil(len(f) / 3) for f in frames)


def _check(frames: Sequence[bytes], fps: float, default_mode: str, frame_format: str) -> None:
    if default_mode not in MODES:
        raise ValueError(f"default_mode={default_mode!r} must be 'loop', 'once' or 'reflect'.")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps={fps!r} must be a positive number of frames per second.")
    if not frames:
        raise ValueError("frames is empty; the player needs at least one frame.")
    if not frame_format.isalnum():
        raise ValueError(f"frame_format={frame_format!r} must be an image type such as 'png'.")


def player_html(frames: Sequence[bytes], *, fps: float, default_mode: str = "loop", frame_format: str = "png",
                caption: str | None = None, element_id: str | None = None) -> str:
    """An HTML fragment (style, controls, script) that plays the encoded ``frames``.

    Parameters
    ----------
    frames : sequence of bytes
        Encoded images (``frame_format``), one per frame, embedded as base64 data URLs.
    fps : float
        Frames per second when playing (the interval is ``1000 // fps`` ms).
    default_mode : {'loop', 'once', 'reflect'}
        What playing does at either end (the user can change it).
    frame_format : str
        Image type of the frames (``data:image/<frame_format>``).
    caption : str, optional
        A line of text under the player (escaped).
    element_id : str, optional
        The root's id, and the prefix of the controls' ids; default a unique
        id, so that several players can share a notebook.  ``"player"`` gives
        the plain ids of :func:`player_page`.

    Returns
    -------
    str
        The fragment; see the module docstring for its controls.
    """
    _check(frames, fps, default_mode, frame_format)
    root = element_id or f"deepreplay-{uuid.uuid4().hex}"
    prefix = "" if root == "player" else f"{root}-"
    n = len(frames)
    buttons = "".join(
        f'<button type="button" id="{prefix}{role}" data-role="{role}" title="{label}" aria-label="{label}">'
        f'<svg viewBox="0 0 16 16" aria-hidden="true"><path d="{path}"/></svg></button>'
        for role, label, path in _BUTTONS)
    modes = "".join(
        f'<label><input type="radio" name="{root}-mode" id="{prefix}{mode}" data-role="mode" value="{mode}"'
        f'{" checked" if mode == default_mode else ""}> {mode.capitalize()}</label>'
        for mode in MODES)
    fill = "".join(
        f'  frames[{i}] = "data:image/{frame_format};base64,{base64.b64encode(data).decode("ascii")}";\n'
        for i, data in enumerate(frames))
    interval = 1000 // fps
    caption_html = f'<p class="dr-caption">{html_module.escape(caption)}</p>\n' if caption else ""
    return (
        _STYLE
        + f'<div class="deepreplay-player" id="{root}">\n'
        + f'<img id="{prefix}frame" data-role="frame" alt="animation frame">\n'
        + f'<div class="dr-bar"><input type="range" id="{prefix}slider" data-role="slider" min="0" max="{n - 1}" '
        + f'step="1" value="0" aria-label="frame"><span id="{prefix}counter" data-role="counter">1 / {n}</span></div>\n'
        + f'<div class="dr-buttons">{buttons}</div>\n'
        + f'<form class="dr-modes" onsubmit="return false;">{modes}</form>\n'
        + caption_html
        + "</div>\n<script>\n(function () {\n"
        + _SCRIPT
        + f"  var frames = new Array({n});\n"
        + fill
        + f'  var root = document.getElementById("{root}");\n'
        + f'  new DeepReplayPlayer(root, frames, {interval}, "{default_mode}");\n'
        + "})();\n</script>\n"
    )


def player_page(frames: Sequence[bytes], *, fps: float, default_mode: str = "loop", frame_format: str = "png",
                caption: str | None = None, title: str = "deepreplay animation") -> str:
    """A complete, self-contained HTML page with the player (root id ``player``, plain control ids).

    Parameters are those of :func:`player_html`; ``title`` is the page's ``<title>``.
    """
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html_module.escape(title)}</title>\n</head>\n<body>\n"
        + player_html(frames, fps=fps, default_mode=default_mode, frame_format=frame_format, caption=caption,
                      element_id="player")
        + "</body>\n</html>\n"
    )
