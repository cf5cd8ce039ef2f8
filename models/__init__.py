"""models: train, evaluate, register, load and explain fraudstream's models.

Reads plain feature frames and label frames (contracts in ``models.frame``);
never imports ``feature_store``, ``rules`` or ``services``. Importing this
package is cheap: heavy libraries load in the submodules that need them.

Entry points for the command line and the scorer:

* ``models.workflow.train_and_register``: time split, train every family,
  report (table + PNG plots), MLflow runs, register, alias ``challenger``;
* ``models.promote.promote``: challenger vs champion on a later slice;
* ``models.scorer_model``: ``load_scoring_model``, ``ModelHolder``,
  ``ChampionWatcher`` (live swaps);
* ``models.explain.top_contributions``: exact SHAP for flagged rows;
* ``models.bench``: scoring latency.
"""

from __future__ import annotations

__all__: list[str] = []
