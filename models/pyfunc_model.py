"""The MLflow pyfunc face of a model bundle (for ``mlflow models serve`` and notebooks).

Saved as a "model from code" (MLflow 3's recommended form: no pickled Python
object in the artifact): a two-line entry file that builds
``FraudstreamPyfunc``, plus the bundle directory as the artifact ``bundle``.
Loading it needs the fraudstream package installed (for ``models``); the pip
requirements list the numeric libraries the family needs.

``predict`` takes a DataFrame with the bundle's feature columns and returns
``score`` and the ``action`` the stored thresholds imply.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from models.bundle import ModelBundle
from models.frame import feature_matrix

__all__ = ["FraudstreamPyfunc", "save_pyfunc"]

_ENTRY = """\
from mlflow.models import set_model

from models.pyfunc_model import FraudstreamPyfunc

set_model(FraudstreamPyfunc())
"""
_FAMILY_PACKAGES = {
    "xgboost": ["xgboost", "numba"],
    "lightgbm": ["lightgbm"],
    "logistic": [],
    "isolation_forest": ["numba"],
}


class FraudstreamPyfunc(PythonModel):
    """Scores and actions from a feature DataFrame, via the bundle's predictor."""

    def load_context(self, context: Any) -> None:
        self._bundle = ModelBundle.load(Path(context.artifacts["bundle"]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        bundle = self._bundle
        scores = bundle.predictor.predict(feature_matrix(model_input, bundle.feature_names))
        flag, block = bundle.thresholds.flag, bundle.thresholds.block
        actions = np.where(scores >= block, "block", np.where(scores >= flag, "flag", "allow"))
        return pd.DataFrame({"score": scores.astype(np.float64), "action": actions})


def save_pyfunc(bundle: ModelBundle, path: Path) -> Path:
    """Write ``bundle`` as an MLflow pyfunc model directory at ``path`` (must not exist)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    scratch = path.parent / f"{path.name}-src"
    bundle_dir = bundle.save(scratch / "bundle")
    entry = scratch / "fraudstream_model.py"
    entry.write_text(_ENTRY, encoding="utf-8")
    signature = ModelSignature(
        inputs=Schema([ColSpec("double", name) for name in bundle.feature_names]),
        outputs=Schema([ColSpec("double", "score"), ColSpec("string", "action")]),
    )
    # A neutral example row (zeros): a real one would copy a customer's features into the artifact.
    example = pd.DataFrame(
        [np.zeros(len(bundle.feature_names))], columns=list(bundle.feature_names)
    )
    mlflow.pyfunc.save_model(
        str(path),
        python_model=str(entry),
        artifacts={"bundle": str(bundle_dir)},
        signature=signature,
        input_example=example,
        pip_requirements=_requirements(bundle.family),
        metadata={
            "family": bundle.family,
            "feature_names": list(bundle.feature_names),
            "thresholds": bundle.thresholds.to_dict(),
            "requires": "the fraudstream package (models.pyfunc_model)",
        },
    )
    return path


def _requirements(family: str) -> list[str]:
    packages = ["mlflow", "numpy", "pandas", *_FAMILY_PACKAGES.get(family, [])]
    pinned = []
    for package in packages:
        try:
            pinned.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pinned.append(package)
    return pinned
