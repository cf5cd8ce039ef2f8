"""A model bundle: the predictor plus everything needed to serve it correctly.

On disk (one directory, logged to MLflow as the model's artifact)::

    bundle.json     format version, family, feature names (the column order the
                    model expects), thresholds, preprocessing, training metadata
    <model files>   written by the family's ``Predictor.save`` (model.ubj,
                    model.txt, linear.json, isolation_forest.joblib + cold_start.json)

The feature list travels with the model so a scorer can never feed columns in
the wrong order: it builds its vectors from ``bundle.feature_names``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.exceptions import ModelError
from models.predictor import Family, Predictor, check_family, load_predictor
from models.thresholds import Thresholds

__all__ = ["BUNDLE_FILE", "BUNDLE_FORMAT", "ModelBundle"]

BUNDLE_FILE = "bundle.json"
#: Bump when the layout changes; loaders refuse formats they do not know.
BUNDLE_FORMAT = 1


@dataclass(frozen=True)
class ModelBundle:
    predictor: Predictor
    feature_names: tuple[str, ...]
    thresholds: Thresholds
    #: Training facts worth keeping with the model (split boundaries, seed, params).
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def family(self) -> Family:
        return self.predictor.family

    def save(self, directory: Path) -> Path:
        """Write the bundle into ``directory`` (created if needed); returns it."""
        directory.mkdir(parents=True, exist_ok=True)
        self.predictor.save(directory)
        document = {
            "format": BUNDLE_FORMAT,
            "family": self.family,
            "feature_names": list(self.feature_names),
            "thresholds": self.thresholds.to_dict(),
            "preprocessing": {
                "dtype": "float32",
                "missing": "NaN",
                "column_order": "feature_names",
                **self.predictor.preprocessing(),
            },
            "metadata": self.metadata,
        }
        (directory / BUNDLE_FILE).write_text(json.dumps(document, indent=2), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: Path) -> ModelBundle:
        path = directory / BUNDLE_FILE
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read model bundle {path}: {exc}") from exc
        if document.get("format") != BUNDLE_FORMAT:
            raise ModelError(f"bundle format {document.get('format')!r} is not {BUNDLE_FORMAT}")
        predictor = load_predictor(check_family(document["family"]), directory)
        return cls(
            predictor=predictor,
            feature_names=tuple(document["feature_names"]),
            thresholds=Thresholds.from_dict(document["thresholds"]),
            metadata=dict(document.get("metadata", {})),
        )
