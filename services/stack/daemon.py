"""One background server process: start it detached, find it again, stop it.

A daemon is started through ``sh -c 'prog ... &'`` in a new session: the shell
exits at once, so the server is never our child. It outlives the command that
started it, never becomes *our* zombie, and no ``Popen`` object is left to
complain about a still-running process when it is garbage collected.

Its pid file keeps the pid on the first line (so ``kill $(head -1 x.pid)``
works) followed by ``key=value`` lines: port, executable, start time. Before
trusting a pid the process is checked three ways, because pids are reused and
an orphan killed under an init that does not reap stays a zombie: it exists,
it is not a zombie, and its executable is the one we started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.exceptions import StackError

__all__ = ["Daemon", "DaemonRecord", "process_exists"]

# `log` is $1, the program and its arguments follow; the shell prints the server's pid.
_SPAWN_SCRIPT = 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!'


@dataclass(frozen=True, slots=True)
class DaemonRecord:
    """What the pid file says about a started server."""

    pid: int
    port: int
    executable: Path
    started_at_ms: int
    #: The kernel's start time of the process in clock ticks since boot (0: unknown).
    #: Unlike a wall-clock time it does not move when the clock is stepped.
    start_ticks: int = 0

    def to_text(self) -> str:
        return (
            f"{self.pid}\nport={self.port}\nexecutable={self.executable}\n"
            f"started_at_ms={self.started_at_ms}\nstart_ticks={self.start_ticks}\n"
        )

    @classmethod
    def from_text(cls, text: str) -> DaemonRecord:
        """Parse a pid file; ``ValueError`` when it is not one of ours."""
        first, *rest = text.strip().splitlines()
        fields = dict(line.split("=", 1) for line in rest if "=" in line)
        return cls(
            pid=int(first),
            port=int(fields["port"]) if "port" in fields else 0,
            executable=Path(fields.get("executable", "")),
            started_at_ms=int(fields.get("started_at_ms", "0")),
            start_ticks=int(fields.get("start_ticks", "0")),
        )


class Daemon:
    """A named server whose pid and log files live in ``directory``."""

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        # Absolute: the server starts in another working directory, and a relative
        # log path there would point nowhere (the shell's redirect would fail).
        directory = directory.resolve()
        self.pid_file = directory / f"{name}.pid"
        self.log_file = directory / f"{name}.log"

    def record(self) -> DaemonRecord | None:
        """The pid file's content, or None when there is none (or it is unreadable)."""
        try:
            return DaemonRecord.from_text(self.pid_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def running(self) -> DaemonRecord | None:
        """The record of a live process we started, else None."""
        record = self.record()
        if record is not None and _is_our_process(record):
            return record
        return None

    def has_stale_pid_file(self) -> bool:
        return self.pid_file.exists() and self.running() is None

    def remove_pid_file(self) -> None:
        self.pid_file.unlink(missing_ok=True)

    def start(
        self,
        argv: Sequence[str],
        *,
        port: int,
        cwd: Path,
        env: Mapping[str, str] | None = None,
    ) -> DaemonRecord:
        """Start ``argv`` detached, its output going to a fresh log file."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        # A fresh log per start, so a log tail shows this run's failure, not an old one.
        self.log_file.write_text(f"# {' '.join(argv)}\n", encoding="utf-8")
        try:
            shell = subprocess.run(
                ["/bin/sh", "-c", _SPAWN_SCRIPT, "fraudstream-stack", str(self.log_file), *argv],
                cwd=cwd,
                env=dict(env) if env is not None else None,
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
                start_new_session=True,
            )
            pid = int(shell.stdout.strip())
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            raise StackError(f"could not start {self.name} ({argv[0]}): {exc}") from exc
        record = DaemonRecord(
            pid=pid,
            port=port,
            executable=Path(argv[0]),
            started_at_ms=int(time.time() * 1000),
            start_ticks=_start_ticks(Path("/proc") / str(pid)) or 0,
        )
        temporary = self.pid_file.with_suffix(".pid.tmp")
        temporary.write_text(record.to_text(), encoding="utf-8")
        temporary.replace(self.pid_file)
        return record

    def stop(self, *, timeout_s: float = 10.0) -> str:
        """Stop the server: SIGTERM, then SIGKILL after ``timeout_s``.

        Returns what happened: ``"stopped"``, ``"killed"`` or ``"not running"``.
        The pid file is removed in every case.
        """
        record = self.running()
        outcome = "not running"
        if record is not None:
            outcome = "stopped"
            _signal(record.pid, signal.SIGTERM)
            if not _wait_gone(record, timeout_s):
                outcome = "killed"
                _signal(record.pid, signal.SIGKILL)
                if not _wait_gone(record, 5.0):
                    raise StackError(f"{self.name} (pid {record.pid}) survived SIGKILL")
        self.remove_pid_file()
        return outcome

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the log file (empty when there is none)."""
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])


def _signal(pid: int, signum: signal.Signals) -> None:
    """Signal the server's whole process group (it got its own session at start).

    The group catches helpers a server may have forked; the guard keeps us from
    ever signalling our own group, should the pid have been started elsewhere.
    """
    try:
        group = os.getpgid(pid)
        if group != os.getpgrp() and group == _session_of(pid):
            os.killpg(group, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _session_of(pid: int) -> int:
    try:
        return os.getsid(pid)
    except OSError:
        return -1


def _wait_gone(record: DaemonRecord, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _is_our_process(record):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def process_exists(pid: int) -> bool:
    """Whether ``pid`` is a live process of ours (a zombie or another user's is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # Someone else's process now holds this pid: certainly not one of ours.
        return False
    proc = Path("/proc") / str(pid)
    return not proc.is_dir() or not _is_zombie(proc)


def _is_our_process(record: DaemonRecord) -> bool:
    if not process_exists(record.pid):
        return False
    proc = Path("/proc") / str(record.pid)
    if not proc.is_dir():
        return True  # no procfs (not Linux): existence is all we can check
    # Every stack runs the same two binaries: a dead stack's pid reused by another
    # stack's server passes the executable check, and `down` would kill it. The
    # kernel's start time of the process tells them apart.
    return _same_executable(proc, record.executable) and _same_start(proc, record.start_ticks)


def _same_start(proc: Path, start_ticks: int) -> bool:
    """Whether the process at ``proc`` is the one started (an old pid file: assume so)."""
    if start_ticks <= 0:
        return True
    now = _start_ticks(proc)
    return now is None or now == start_ticks


def _start_ticks(proc: Path) -> int | None:
    """The process's start in clock ticks since boot (``/proc/<pid>/stat`` field 22)."""
    try:
        fields = (proc / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name in parentheses may contain spaces: field 22 is the 20th after ')'.
    return int(fields.rsplit(")", 1)[-1].split()[19])


def _is_zombie(proc: Path) -> bool:
    try:
        stat_line = (proc / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True  # vanished between the two checks
    # The command name in parentheses may contain spaces: the state follows the last ')'.
    state = stat_line.rsplit(")", 1)[-1].split()[0]
    return state in {"Z", "X"}


def _same_executable(proc: Path, executable: Path) -> bool:
    if not str(executable):
        return True  # an old pid file without the executable: trust the pid
    try:
        running = os.readlink(proc / "exe")
    except OSError:
        return True  # not allowed to look: the pid check above is all we have
    # A binary replaced on disk while running shows as "<path> (deleted)".
    # Compare resolved paths: /usr/bin/redis-server is a symlink on Debian.
    if Path(running.removesuffix(" (deleted)")) == executable.resolve():
        return True
    # A script runs as its interpreter: then the script is argv[0] or argv[1].
    try:
        argv = (proc / "cmdline").read_bytes().split(b"\0")[:2]
    except OSError:
        return False
    return os.fsencode(executable) in argv
