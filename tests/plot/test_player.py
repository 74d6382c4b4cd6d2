"""Tests for deepreplay.plot.player: the self-contained HTML player page."""

import re

import pytest

from deepreplay.plot.player import MODES, embedded_size, player_html, player_page

FRAMES = [b"\x89PNG one", b"\x89PNG two", b"\x89PNG three"]
ROLES = ("frame", "slider", "counter", "first", "prev", "reverse", "pause", "play", "next", "last", "slower",
         "faster")


def test_the_page_embeds_every_frame_and_needs_nothing_outside_it():
    page = player_page(FRAMES, fps=5, caption="a <b> note")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert len(re.findall(r'frames\[\d+\] = "data:image/png;base64,', page)) == 3
    assert re.search(r"new DeepReplayPlayer\(root, frames, 200(\.0)?, \"loop\"\)", page)
    # No external resource of any kind: no URL, no link, no import, no src other than data: URLs.
    assert not re.search(r"https?:|//cdn|<link|@import|url\(|@font-face", page)
    assert re.findall(r'\bsrc="(?!data:)', page) == []
    assert "a &lt;b&gt; note" in page


def test_the_page_has_plain_ids_and_roles_for_every_control():
    page = player_page(FRAMES, fps=10, default_mode="reflect")
    assert 'class="deepreplay-player" id="player"' in page
    for role in ROLES:
        assert re.search(rf'id="{role}" data-role="{role}"', page), role
    for mode in MODES:
        assert f'id="{mode}" data-role="mode" value="{mode}"' in page
    assert re.search(r'value="reflect" checked', page) and not re.search(r'value="loop" checked', page)
    assert '<img id="frame"' in page and 'max="2"' in page


def test_fragments_in_one_notebook_get_ids_of_their_own():
    a, b = player_html(FRAMES, fps=5), player_html(FRAMES, fps=5)
    ids_a = set(re.findall(r'\bid="([^"]+)"', a))
    ids_b = set(re.findall(r'\bid="([^"]+)"', b))
    assert len(ids_a) == len(re.findall(r'\bid="', a)) and not ids_a & ids_b
    root = re.search(r'class="deepreplay-player" id="([^"]+)"', a).group(1)
    assert f'id="{root}-next" data-role="next"' in a


@pytest.mark.parametrize("kwargs, message", [
    ({"default_mode": "bounce"}, "default_mode='bounce' must be 'loop', 'once' or 'reflect'"),
    ({"fps": 0}, "fps=0 must be a positive number"),
    ({"frame_format": "png\" onload=\"x"}, "frame_format="),
])
def test_bad_arguments_name_themselves(kwargs, message):
    options = {"fps": 5, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        player_html(FRAMES, **options)


def test_no_frame_is_an_error_and_embedded_size_is_base64():
    with pytest.raises(ValueError, match="frames is empty"):
        player_page([], fps=5)
    assert embedded_size([b"abc", b"abcd"]) == 4 + 8


# The player's script run by Node.js on a minimal stand-in of the page's elements (no browser needed;
# the headless-browser test of the page itself clicks the real controls).
_NODE_HARNESS = r"""
const src = require("fs").readFileSync(0, "utf8");
const script = src.split("<script>")[1].split("</script>")[0];
function element(role) {
  return {role: role, attrs: {}, value: "0", textContent: "", src: "", checked: false,
          setAttribute(k, v) { this.attrs[k] = String(v); }};
}
const parts = {};
const roles = ["frame", "slider", "counter", "first", "prev", "reverse", "pause", "play", "next", "last",
               "slower", "faster"];
roles.forEach(r => parts[r] = element(r));
const radios = ["once", "loop", "reflect"].map(m => Object.assign(element("mode"), {value: m}));
const root = Object.assign(element("root"), {
  querySelector(sel) { return parts[sel.match(/data-role="(\w+)"/)[1]]; },
  querySelectorAll(sel) { return radios; },
});
let ticks = [];
global.setInterval = (f, ms) => { ticks.push(f); return ticks.length; };
global.clearInterval = () => { ticks = []; };
global.document = {getElementById: () => root};
eval(script);
const log = [];
function state(what) { log.push([what, root.attrs["data-frame"], parts.counter.textContent,
                                 root.attrs["data-playing"], root.attrs["data-interval"], root.attrs["data-mode"],
                                 parts.frame.src.slice(-4)]); }
function tick() { ticks.forEach(f => f()); }
state("start");
parts.next.onclick(); state("next");
parts.last.onclick(); state("last");
parts.next.onclick(); state("next at end");
parts.first.onclick(); state("first");
parts.prev.onclick(); state("prev at start");
parts.play.onclick(); tick(); state("play 1"); tick(); tick(); state("play 3 (loop)");
parts.faster.onclick(); state("faster");
parts.pause.onclick(); state("pause");
radios[0].checked = true; radios[0].onchange(); state("once");
parts.reverse.onclick(); tick(); tick(); state("reverse past 0 (once)");
radios[2].checked = true; radios[2].onchange();
parts.play.onclick(); tick(); tick(); tick(); state("reflect");
parts.slider.value = "1"; parts.slider.oninput(); state("slider");
console.log(JSON.stringify(log));
"""


def test_the_controls_do_what_they_say(tmp_path):
    import json
    import shutil
    import subprocess

    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("Node.js is not installed (the player's script is tested with it)")
    page = player_page([b"f0", b"f1", b"f2"], fps=10)
    harness = tmp_path / "harness.js"
    harness.write_text(_NODE_HARNESS)
    out = subprocess.run([node, str(harness)], input=page, capture_output=True, text=True, timeout=30, check=True)
    got = {what: rest for what, *rest in json.loads(out.stdout)}
    last = lambda i: __import__("base64").b64encode(f"f{i}".encode()).decode()[-4:]  # noqa: E731
    assert got["start"] == ["0", "1 / 3", "false", "100", "loop", last(0)]
    assert got["next"][:2] == ["1", "2 / 3"] and got["next"][5] == last(1)
    assert got["last"][0] == got["next at end"][0] == "2"
    assert got["first"][0] == got["prev at start"][0] == "0"
    assert got["play 1"][:3] == ["1", "2 / 3", "true"]
    assert got["play 3 (loop)"][0] == "0"  # 1 -> 2 -> 0
    assert got["faster"][2:4] == ["true", "67"]
    assert got["pause"][2] == "false"
    assert got["once"][4] == "once"
    assert got["reverse past 0 (once)"][0] == "0" and got["reverse past 0 (once)"][2] == "false"
    assert got["reflect"][0] == "1"  # 0 -> 1 -> 2 -> turns back to 1
    assert got["slider"][:3] == ["1", "2 / 3", "false"]
