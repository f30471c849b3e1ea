"""What a model package gives the generic layers (train, export, evaluate): one
:class:`ModelDefinition`, registered once in ``autotune_keras/models/__init__.py``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotune_keras import contract

# hook -> (module of the model package, function): the layout every model package follows
CONVENTION = {
    "train": ("training", "train"),  # train(experiment) -> run folder
    "load_run": ("run", "load_run"),  # load_run(run folder) -> run
    "export_spec": ("export", "export_spec"),  # export_spec(run) -> export.spec.ExportSpec
    "evaluate": ("evaluation", "evaluate"),  # evaluate(evaluation.EvaluationRequest) -> results
}


@dataclass(frozen=True)
class ModelDefinition:
    """A model, as the generic layers see it.

    ``experiment``: the dataclass a run's YAML parses into (its defaults are the only defaults;
    it has ``task`` and ``train`` fields). The hooks are found by convention in ``package``
    (see :data:`CONVENTION`), imported on first use; ``hooks`` gives any of them directly.
    """

    name: str
    signature: contract.Signature
    experiment: type
    package: str | None = None
    hooks: dict[str, Callable] = field(default_factory=dict)

    def hook(self, name: str) -> Callable | None:
        """The hook ``name`` (see :data:`CONVENTION`), or None when the model has none."""
        if name in self.hooks:
            return self.hooks[name]
        if self.package is None:
            return None
        module, function = CONVENTION[name]
        try:
            loaded = importlib.import_module(f"{self.package}.{module}")
        except ModuleNotFoundError as error:
            if error.name == f"{self.package}.{module}":
                return None
            raise
        return getattr(loaded, function, None)

    def _required(self, name: str) -> Callable:
        found = self.hook(name)
        if found is None:
            raise ValueError(f"model {self.name!r} has no {name} hook")
        return found

    def train(self, experiment) -> Path:
        """Train from a parsed experiment; returns the run folder."""
        return self._required("train")(experiment)

    def load_run(self, path: Path) -> Any:
        """Read a training run folder back."""
        return self._required("load_run")(path)

    def export_spec(self, run) -> Any:
        """What the exporter needs of a run (an ExportSpec)."""
        return self._required("export_spec")(run)

    def evaluate(self, request) -> dict:
        """Score exports of this model (an EvaluationRequest)."""
        return self._required("evaluate")(request)

    @property
    def can_evaluate(self) -> bool:
        return self.hook("evaluate") is not None
