"""deepreplay.native_log: TensorFlow's Abseil start-up lines are dropped from descriptor 2, nothing else is."""

import os

import pytest

from deepreplay import native_log

PREAMBLE = native_log.ABSL_PREAMBLE.decode() + "\n"
INFO = ("I0000 00:00:1796004540.042531   26197 port.cc:153] oneDNN custom operations are on. You may see "
        "slightly different numerical results.\n")
WARNING = "W0000 00:00:1796004540.1   26197 cpu_client.cc:12] a native warning\n"
ERROR = "E0000 00:00:1796004540.2   26197 cuda_dnn.cc:8579] Unable to register cuDNN factory\n"
FATAL = "F0000 00:00:1796004540.3   26197 check.cc:1] Check failed\n"
OURS = ["deepreplay: warning: the recording is incomplete\n", "/x.py:3: UserWarning: a Python warning\n",
        "Traceback (most recent call last):\n", "Image 0000 00:00 is not an Abseil line\n"]


@pytest.mark.parametrize("level, kept", [
    (0, [PREAMBLE, INFO, WARNING, ERROR, FATAL]),
    (1, [WARNING, ERROR, FATAL]),
    (2, [ERROR, FATAL]),
    (3, [FATAL]),
])
def test_the_level_hides_what_tf_cpp_min_log_level_means(level, kept):
    lines = [PREAMBLE, INFO, WARNING, ERROR, FATAL, *OURS]
    shown = [line for line in lines if not native_log.is_dropped(line.encode(), level)]
    assert shown == kept + OURS


def test_filtered_stderr_drops_the_native_lines_and_forwards_the_rest_in_order(capfd):
    with native_log.filtered_stderr(2):
        # as the C++ libraries write them: straight to descriptor 2, in pieces
        os.write(2, (PREAMBLE + INFO[:30]).encode())
        os.write(2, (INFO[30:] + OURS[0] + OURS[1][:5]).encode())
        os.write(2, (OURS[1][5:] + WARNING + ERROR + PREAMBLE + INFO).encode())
        os.write(2, b"no newline at the end")
    os.write(2, INFO.encode())  # after the block: nothing is filtered any more
    err = capfd.readouterr().err
    assert err == OURS[0] + OURS[1] + ERROR + "no newline at the end" + INFO


def test_nothing_is_filtered_when_the_user_asks_for_every_line(capfd, monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert native_log.min_log_level() == 0
    with native_log.filtered_stderr():
        os.write(2, (PREAMBLE + INFO).encode())
    assert capfd.readouterr().err == PREAMBLE + INFO
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "not a number")
    assert native_log.min_log_level() == 0
