"""The retrainer process: its schedule's durations, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contracts.errors import ConfigError
from services.retrain.schedule import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("24h", 86400), ("1h30m", 5400), ("90s", 90), ("1d", 86400),
     ("500ms", 0.5), ("1.5h", 5400), (" 2H ", 7200)],
)  # fmt: skip
def test_durations_read_as_people_write_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "h", "-5m", "5x", "0s", "m30", "1h 30"])
def test_anything_else_is_a_clear_error(text: str) -> None:
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration(text)


def test_a_failed_run_is_logged_and_sigterm_stops_the_wait_at_once(tmp_path: Path) -> None:
    command = [str(Path(sys.executable).parent / "fraudstream"), "run", "retrainer"]
    command += ["--every", "1h", "--log-dir", str(tmp_path / "no-log-here")]
    command += ["--reports-dir", str(tmp_path / "reports"), "--metrics-port", "0"]
    log = tmp_path / "retrainer.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, env=os.environ
        )
    try:
        deadline = time.monotonic() + 60
        while "retraining failed" not in log.read_text(encoding="utf-8"):
            assert process.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "the first run never finished"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    output = log.read_text(encoding="utf-8")
    assert "no decision log at" in output
    assert "retrainer: 1 run(s): failed" in output
