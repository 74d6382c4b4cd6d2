"""A saved HTML animation works offline: opened in headless Chromium with no network, it plays.

Needs Debian's ``chromium`` (``.ci/run`` installs it with apt-get when missing).  The page is
opened twice from a ``file://`` URL with every route to the network closed (an unreachable proxy,
a host resolver that finds nothing, Chromium's background services off): once as saved (frame 0
shows) and once with a test script appended that presses Play, records every resource the page
fetched (``performance.getEntriesByType('resource')``) and every Content-Security-Policy
violation, under a CSP that forbids anything but inline code and ``data:`` images.  The frame
must change and the page must have fetched nothing.
"""

import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib import pyplot as plt
from PIL import Image

from deepreplay.plot import compose_animations

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

CSP = ("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
       "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">")

PRESS_PLAY = """
<script>
(function () {
  var violations = [];
  document.addEventListener("securitypolicyviolation", function (e) { violations.push(e.blockedURI); });
  document.querySelector('[data-role="play"]').click();
  setTimeout(function () {
    var fetched = performance.getEntriesByType("resource").map(function (e) { return e.name; });
    document.body.setAttribute("data-test-report", JSON.stringify({fetched: fetched, violations: violations}));
  }, 5000);
})();
</script>
"""


def chromium(tmp_path, page, *, budget_ms, what):
    """Run headless Chromium on ``page`` offline; return the DOM text or the screenshot's pixels."""
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
            "--disable-default-apps", "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={tmp_path / ('profile-' + what + '-' + page.stem)}",
            f"--virtual-time-budget={budget_ms}", "--window-size=800,600"]
    if what == "dom":
        done = subprocess.run(args + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout
    shot = tmp_path / f"{page.stem}-{budget_ms}.png"
    done = subprocess.run(args + [f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    return np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")).astype(int)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run: apt-get install -y chromium)")
def test_saved_html_plays_offline_in_chromium_and_fetches_nothing(replay, tmp_path):
    fig, axs = plt.subplots(1, 2, figsize=(6, 2.5), dpi=50)
    visuals = [replay.build_loss_and_metric(axs[0], "accuracy"), replay.build_loss_histogram(axs[1])]
    anim = compose_animations(visuals, title="Tiny", repeat=False)  # plays once, stops on the last frame
    saved = tmp_path / "run.html"
    anim.save(saved, fps=10)
    n = len(anim.epochs)
    html = saved.read_text(encoding="utf-8")
    # nothing outside the page: no http(s) URL at all (not even in a comment), no protocol-relative src/href
    assert not re.search(r"https?://", html)
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", html)

    tested = tmp_path / "run_played.html"
    tested.write_text(html.replace("<head>", "<head>\n" + CSP, 1).replace("</body>", PRESS_PLAY + "</body>", 1),
                      encoding="utf-8")
    dom = chromium(tmp_path, tested, budget_ms=30000, what="dom")
    report = json.loads(re.search(r"data-test-report=\"([^\"]*)\"", dom).group(1).replace("&quot;", '"'))
    assert report == {"fetched": [], "violations": []}
    assert f'data-frame="{n - 1}"' in dom and f"{n} / {n}" in dom  # played through to the last frame

    first = chromium(tmp_path, saved, budget_ms=1000, what="screenshot")  # as saved: paused on frame 0
    last = chromium(tmp_path, tested, budget_ms=30000, what="screenshot")
    assert first.shape == last.shape
    changed = np.abs(first - last).sum(axis=2) > 30
    assert changed.mean() > 0.002, changed.mean()  # the frame changed (the curves grew)
    assert first.std() > 10  # and the page is not blank: the frame and the buttons are drawn
