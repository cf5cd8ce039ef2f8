"""Adapters in MLflow: one run per trained adapter, a registered version per task, aliases.

Each task has its own registered model (``LlmSettings.explain_model`` /
``analyse_model``). ``publish`` logs a run (training parameters, evaluation
metrics, the adapter folder as the ``adapter`` artifact), registers a version
from it and, if asked, points an alias (``champion``) at it. ``fetch``
resolves an alias or a version number and downloads that version's adapter
into a local cache folder (``<adapters_dir>/<task>/v<version>``) unless it is
already there, so the worker loads a given version once and by its number.

Every MLflow failure leaves as ``RegistryError`` / ``ModelNotFoundError``
(raised ``from`` the original), like ``models.registry``, whose client and
registration helpers this module reuses.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.settings import LlmSettings, MlflowSettings
from models.exceptions import ModelNotFoundError, RegistryError
from models.llm.adapters import Task, read_meta, write_meta
from models.llm.exceptions import AdapterError
from models.registry import LoggedModel, ModelRegistry

__all__ = ["AdapterRegistry", "PublishedAdapter", "replace_dir"]

_EXPERIMENT = "fraudstream-llm"
_ARTIFACT = "adapter"
_NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}


@dataclass(frozen=True)
class PublishedAdapter:
    task: Task
    name: str
    version: str
    run_id: str
    #: The local copy under ``adapters_dir`` (the folder the worker loads).
    path: Path


class AdapterRegistry:
    """Publish, resolve and fetch LoRA adapters through the MLflow registry."""

    def __init__(self, mlflow: MlflowSettings, llm: LlmSettings) -> None:
        self.llm = llm
        self.registry = ModelRegistry(mlflow, experiment=_EXPERIMENT)

    def model_name(self, task: Task) -> str:
        return self.llm.explain_model if task == "explain" else self.llm.analyse_model

    def publish(
        self,
        task: Task,
        adapter_dir: Path,
        *,
        metrics: Mapping[str, float],
        alias: str | None = "champion",
    ) -> PublishedAdapter:
        """Log ``adapter_dir`` as a run, register it as a new version, set ``alias``."""
        meta = read_meta(adapter_dir, task=task)
        meta.metrics = {k: float(v) for k, v in metrics.items()}
        write_meta(adapter_dir, meta)
        name = self.model_name(task)
        client = self.registry.client
        experiment_id = self.registry.experiment_id()
        with _translate(f"log the {task} adapter"):
            from mlflow.entities import Metric, Param

            run = client.create_run(experiment_id, run_name=f"llm-{task}", tags={"task": task})
            run_id = run.info.run_id
            try:
                now = int(time.time() * 1000)
                client.log_batch(
                    run_id,
                    metrics=[Metric(k, v, now, 0) for k, v in sorted(meta.metrics.items())],
                    params=[Param(k, str(v)) for k, v in sorted(meta.params.items())],
                )
                client.log_artifacts(run_id, str(adapter_dir), _ARTIFACT)
            except BaseException:
                client.set_terminated(run_id, status="FAILED")
                raise
            client.set_terminated(run_id, status="FINISHED")
        logged = LoggedModel(run_id=run_id, source=f"{run.info.artifact_uri}/{_ARTIFACT}")
        version = self.registry.register(
            name, logged, tags={"task": task, "prompt_version": meta.prompt_version}
        )
        if alias:
            self.registry.set_alias(name, alias, version)
        meta.version = version
        local = self.local_dir(task, version)
        replace_dir(adapter_dir, local)
        write_meta(local, meta)
        return PublishedAdapter(task, name, version, run_id, local)

    def resolve(self, task: Task, ref: str) -> str:
        """The version number ``ref`` names: itself when it is a number, else an alias."""
        if ref.isdigit():
            return ref
        return self.registry.require_alias(self.model_name(task), ref)

    def fetch(self, task: Task, ref: str) -> Path:
        """The local folder of the version ``ref`` names, downloaded once into the cache."""
        version = self.resolve(task, ref)
        local = self.local_dir(task, version)
        if _cached_version(local, task) == version:
            return local
        name = self.model_name(task)
        with _translate(f"download {name} version {version}"):
            from mlflow.artifacts import download_artifacts

            source = self.registry.client.get_model_version(name, version).source
            with tempfile.TemporaryDirectory(prefix=".fetch-", dir=_parent(local)) as scratch:
                downloaded = Path(
                    download_artifacts(
                        artifact_uri=source,
                        dst_path=scratch,
                        tracking_uri=self.registry.settings.tracking_uri,
                    )
                )
                meta = read_meta(downloaded, task=task)
                meta.version = version
                write_meta(downloaded, meta)
                replace_dir(
                    downloaded, local, keep=lambda found: _cached_version(found, task) == version
                )
        return local

    def metrics(self, task: Task, ref: str) -> dict[str, float]:
        """The evaluation metrics stored with a version (from its local copy)."""
        return dict(read_meta(self.fetch(task, ref), task=task).metrics)

    def local_dir(self, task: Task, version: str) -> Path:
        return self.llm.adapters_dir / task / f"v{version}"


def _cached_version(local: Path, task: Task) -> str | None:
    """The version a cache folder holds, or None when it is missing or unreadable."""
    try:
        return read_meta(local, task=task).version
    except AdapterError:
        return None


def _parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.parent


def replace_dir(source: Path, target: Path, *, keep: Callable[[Path], bool] | None = None) -> None:
    """Copy ``source`` to ``target``, replacing it; safe beside concurrent callers.

    Two workers starting together fetch the same version into the same cache
    folder, and one may already be loading from it. Each copy is staged in its
    own folder and renamed into place, so a reader never sees a half-written
    folder. A target already there is left alone when ``keep(target)`` says it
    is as good as ours (the same version: the first copy in wins, and whoever
    loads from it keeps its files); otherwise it is renamed aside, never
    deleted in place, and when another writer's copy lands between the two
    renames it is moved aside in turn, so nobody fails for having lost a race.
    """
    if source.resolve() == target.resolve():
        return
    parent = _parent(target)
    _sweep_leftovers(parent, target.name)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=parent))
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        # copytree gives the folder the source's mtime: an adapter trained hours ago
        # would make a live copy look like a leftover to a concurrent sweep.
        os.utime(staging)
        for _ in range(_RENAME_ATTEMPTS):
            try:
                # Atomic; fails when the target holds files (ENOTEMPTY/EEXIST).
                os.rename(staging, target)
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
            if keep is not None and keep(target):
                return
            _move_aside(target)
        raise OSError(errno.EBUSY, f"other writers kept replacing {target}", str(target))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# Each failed attempt means another writer renamed its copy in since ours moved
# the target aside. With ``keep`` (the fetch) the first such copy ends the race;
# without it, 16 lost races in a row mean writers that never stop.
_RENAME_ATTEMPTS = 16


#: A staging or moved-aside folder this old was left by a process killed mid-copy
#: (a live writer's is seconds old): it is deleted by the next writer.
_LEFTOVER_AGE_S = 3600


def _sweep_leftovers(parent: Path, name: str) -> None:
    """Delete the ``.name.new-*`` / ``.name.old-*`` folders a killed writer left behind."""
    cutoff = time.time() - _LEFTOVER_AGE_S
    for kind in ("new", "old"):
        for leftover in parent.glob(f".{name}.{kind}-*"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    shutil.rmtree(leftover, ignore_errors=True)
            except FileNotFoundError:
                pass  # another writer swept it


def _move_aside(target: Path) -> None:
    """Rename ``target`` to a unique hidden name and delete it from there."""
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    try:
        # Renaming onto the empty folder mkdtemp made is atomic too.
        os.rename(target, aside)
    except FileNotFoundError:
        pass  # another writer moved it aside first
    shutil.rmtree(aside, ignore_errors=True)


@contextmanager
def _translate(action: str) -> Iterator[None]:
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        code: Any = getattr(exc, "error_code", None)
        kind = ModelNotFoundError if code in _NOT_FOUND_CODES else RegistryError
        raise kind(exc.message, action=action, error_code=code) from exc
    except OSError as exc:
        raise RegistryError(str(exc), action=action) from exc
