"""The MLflow edge: tracking runs, the model registry and aliases, nothing else talks to MLflow.

Every call goes through an explicit ``MlflowClient`` built from
``MlflowSettings`` (tracking URI, registered model names), never through
MLflow's process-global "current tracking URI", so a scorer can watch one
registry while a test uses another. Every MLflow failure leaves this module
as a ``RegistryError`` (``ModelNotFoundError`` for a missing model, version
or alias), raised ``from`` the original.

A model version's artifact is an MLflow pyfunc model (servable by ``mlflow
models serve``, with a signature and an input example) whose ``bundle``
artifact is a ``models.bundle`` directory. The scorer reads the bundle
directly (``models.scorer_model``) and never goes through pyfunc on the hot
path.

Local default: ``sqlite:///.fraudstream/mlflow.db`` with artifacts in
``.fraudstream/mlartifacts`` next to the database (unless
``artifact_location`` says otherwise).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.settings import MlflowSettings
from models.bundle import ModelBundle
from models.exceptions import ModelNotFoundError, RegistryError

__all__ = ["LoggedModel", "ModelRegistry"]

_NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}
#: What to run when an alias is missing (a first deployment has no champion yet).
_ALIAS_HINTS = {
    "champion": " (none promoted yet: run `fraudstream train`, then `fraudstream promote`)",
    "challenger": " (nothing to judge: `fraudstream train HISTORY` registers one)",
}
#: MLflow caps a parameter value at 6000 characters; longer ones are cut with a marker.
_PARAM_LIMIT = 6000


@dataclass(frozen=True)
class LoggedModel:
    run_id: str
    #: Where the pyfunc model lives (the source a model version is registered from).
    source: str


class ModelRegistry:
    """MLflow tracking and registry for fraudstream's models, as configured by ``settings``."""

    def __init__(self, settings: MlflowSettings, *, experiment: str = "fraudstream") -> None:
        self.settings = settings
        self.experiment = experiment
        self._client: Any = None
        self._experiment_id: str | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            with _translate("connect to MLflow"):
                from mlflow import MlflowClient

                uri = self.settings.tracking_uri
                _ensure_sqlite_parent(uri)
                self._client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        return self._client

    def experiment_id(self) -> str:
        """The experiment's id, created on first use."""
        if self._experiment_id is None:
            with _translate(f"open experiment {self.experiment!r}"):
                found = self.client.get_experiment_by_name(self.experiment)
                if found is not None:
                    self._experiment_id = str(found.experiment_id)
                else:
                    self._experiment_id = str(
                        self.client.create_experiment(
                            self.experiment, artifact_location=self._artifact_location()
                        )
                    )
        return self._experiment_id

    def log_model_run(
        self,
        bundle: ModelBundle,
        *,
        run_name: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        artifacts: Sequence[Path] = (),
        tags: Mapping[str, str] | None = None,
    ) -> LoggedModel:
        """One finished run: params, metrics, extra artifacts and the bundle as a pyfunc model."""
        from models.pyfunc_model import save_pyfunc

        with self._run(run_name, {"family": bundle.family, **(tags or {})}) as run:
            run_id: str = run.info.run_id
            self._log_values(
                run_id,
                params=params,
                metrics=metrics,
                artifacts=artifacts,
                artifact_dir="report",
                run_tags={"feature_count": str(len(bundle.feature_names))},
            )
            with tempfile.TemporaryDirectory(prefix="fraudstream-model-") as scratch:
                model_dir = save_pyfunc(bundle, Path(scratch) / "model")
                self.client.log_artifacts(run_id, str(model_dir), "model")
        return LoggedModel(run_id=run_id, source=f"{run.info.artifact_uri}/model")

    def log_run(
        self,
        *,
        run_name: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        artifacts: Sequence[Path] = (),
        tags: Mapping[str, str] | None = None,
        artifact_dir: str = "report",
    ) -> str:
        """One finished run without a model (e.g. a retraining verdict); returns its run id."""
        with self._run(run_name, dict(tags or {})) as run:
            run_id: str = run.info.run_id
            self._log_values(
                run_id,
                params=params,
                metrics=metrics,
                artifacts=artifacts,
                artifact_dir=artifact_dir,
            )
        return run_id

    @contextmanager
    def _run(self, run_name: str, tags: Mapping[str, str]) -> Iterator[Any]:
        """A new run in the experiment, marked FINISHED after the block, FAILED if it raises."""
        experiment_id = self.experiment_id()
        with _translate(f"log run {run_name!r}"):
            run = self.client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
            try:
                yield run
            except BaseException:
                self.client.set_terminated(run.info.run_id, status="FAILED")
                raise
            self.client.set_terminated(run.info.run_id, status="FINISHED")

    def _log_values(
        self,
        run_id: str,
        *,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        artifacts: Sequence[Path],
        artifact_dir: str,
        run_tags: Mapping[str, str] | None = None,
    ) -> None:
        """Params, metrics and tags in one batch, then the artifact files."""
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in sorted(metrics.items())],
            params=[Param(k, _param_value(v)) for k, v in sorted(params.items())],
            tags=[RunTag(k, v) for k, v in sorted((run_tags or {}).items())],
        )
        for path in artifacts:
            self.client.log_artifact(run_id, str(path), artifact_dir)

    def register(
        self, name: str, logged: LoggedModel, *, tags: Mapping[str, str] | None = None
    ) -> str:
        """A new version of registered model ``name`` (created if needed); returns the version."""
        with _translate(f"register a version of {name!r}"):
            from mlflow.exceptions import MlflowException

            try:
                self.client.create_registered_model(name)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            version = self.client.create_model_version(
                name, source=logged.source, run_id=logged.run_id, tags=dict(tags or {})
            )
            return str(version.version)

    def alias_version(self, name: str, alias: str) -> str | None:
        """The version ``alias`` points at, or None. One registry look-up: cheap to poll."""
        try:
            with _translate(f"look up {name}@{alias}"):
                model = self.client.get_registered_model(name)
        except ModelNotFoundError:
            return None
        version = model.aliases.get(alias)
        return None if version is None else str(version)

    def require_alias(self, name: str, alias: str) -> str:
        version = self.alias_version(name, alias)
        if version is None:
            hint = _ALIAS_HINTS.get(alias, "")
            raise ModelNotFoundError(
                f"{name!r} has no alias {alias!r}{hint}", action="resolve alias"
            )
        return version

    def set_alias(self, name: str, alias: str, version: str) -> None:
        with _translate(f"point {name}@{alias} at version {version}"):
            self.client.set_registered_model_alias(name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        with _translate(f"remove {name}@{alias}"):
            self.client.delete_registered_model_alias(name, alias)

    def version_tags(self, name: str, version: str) -> dict[str, str]:
        with _translate(f"read {name} version {version}"):
            return dict(self.client.get_model_version(name, version).tags)

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        with _translate(f"tag {name} version {version}"):
            self.client.set_model_version_tag(name, version, key, value)

    def download_bundle(self, name: str, version: str, destination: Path) -> ModelBundle:
        """Fetch version ``version``'s bundle into ``destination`` and load it."""
        with _translate(f"download {name} version {version}"):
            from mlflow.artifacts import download_artifacts

            source = self.client.get_model_version(name, version).source
            local = download_artifacts(
                artifact_uri=f"{source}/artifacts/bundle",
                dst_path=str(destination),
                tracking_uri=self.settings.tracking_uri,
            )
        return ModelBundle.load(Path(local))

    def _artifact_location(self) -> str | None:
        if self.settings.artifact_location is not None:
            return self.settings.artifact_location
        database = _sqlite_path(self.settings.tracking_uri)
        if database is None:
            return None  # a tracking server decides where artifacts go
        return (database.parent / "mlartifacts").resolve().as_uri()


@contextmanager
def _translate(action: str) -> Iterator[None]:
    """MLflow (and the I/O under it) raise their own types; callers only see ours."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        code = getattr(exc, "error_code", None)
        kind = ModelNotFoundError if code in _NOT_FOUND_CODES else RegistryError
        raise kind(exc.message, action=action, error_code=code) from exc
    except OSError as exc:
        raise RegistryError(str(exc), action=action) from exc


def _sqlite_path(uri: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(uri[len(prefix) :]) if uri.startswith(prefix) else None


def _ensure_sqlite_parent(uri: str) -> None:
    database = _sqlite_path(uri)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)


def _param_value(value: object) -> str:
    text = str(value)
    return text if len(text) <= _PARAM_LIMIT else text[: _PARAM_LIMIT - 3] + "..."
