"""The LLM worker's CPU priority: it must take only CPU that the hot path does not want.

Two Linux mechanisms, because one is not enough:

* ``SCHED_IDLE`` for the worker's threads: within the worker's scheduling
  group, any normal task preempts it.
* The group itself. With autogroups on (``kernel.sched_autogroup_enabled``,
  the default of most distributions), the scheduler first shares a CPU
  fairly between *sessions*, then among the tasks of each. A session whose
  only runnable task is a ``SCHED_IDLE`` one still gets a full session's
  share against the broker's session and Redis' session: measured with
  ``bench e2e --llm-worker``, the generating thread took 50-90 % of a core
  while the broker, Redis and the scorer queued for a CPU, and the scorer's
  in-process p99 went 16 -> 294 ms. So a worker that leads its own session
  (started with ``setsid``, as the demo and the benchmark start it) also
  sets its session's autogroup to nice 19: weight 15 against 1,024.

A worker that does not lead its session leaves the autogroup alone: the
group is shared with whatever started it (a shell, the scorer's launcher),
and lowering it would lower them too. Under systemd or in a container the
equivalent is the unit's or container's CPU weight (``CPUWeight=``,
``cpu_shares``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = ["AUTOGROUP", "lower_priority", "lower_session_group"]

log = logging.getLogger(__name__)

AUTOGROUP = Path("/proc/self/autogroup")


def lower_priority(*, idle: bool, nice: int) -> list[str]:
    """Lower this process' CPU priority; returns what was done, for the log.

    Threads started after this (the model thread, torch's) inherit the policy,
    so call it before starting them.
    """
    done: list[str] = []
    idle_set = False
    if idle and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            idle_set = True
            done.append("SCHED_IDLE")
        except OSError as exc:
            log.warning("SCHED_IDLE refused (%s); lowering nice instead", exc)
    if not idle_set and nice > 0:
        try:
            os.nice(nice)
            done.append(f"nice {nice}")
        except OSError as exc:  # not permitted in some containers: run at normal priority
            log.warning("could not lower the worker's priority: %s", exc)
    if idle:
        done.append(lower_session_group())
    return done


def lower_session_group(autogroup: Path = AUTOGROUP) -> str:
    """Set this session's autogroup to nice 19 when this process leads the session."""
    if os.getsid(0) != os.getpid():
        return "autogroup left as is (not a session leader: start the worker with setsid)"
    try:
        autogroup.write_text("19")
    except FileNotFoundError:
        return "no autogroup (kernel without it, or in a cgroup: use its CPU weight)"
    except OSError as exc:
        log.warning("could not lower the session's autogroup: %s", exc)
        return f"autogroup left as is ({exc})"
    return "autogroup nice 19"
