"""The suite file: which datasets a run covers and which evaluators grade it."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr

from promptlab._util.canonical import content_hash
from promptlab._util.files import load_model
from promptlab._util.models import StrictModel
from promptlab._util.spec import Spec
from promptlab.datasets._load import Dataset, load_dataset

__all__ = [
    "REGRESSION_TAG",
    "Suite",
    "load_suite",
]

REGRESSION_TAG = "regression"
"""Tag added to every case loaded from the regression-cases directory."""


class Suite(StrictModel):
    """Datasets plus evaluators: what a run runs. Paths are relative to the suite file."""

    name: str = Field(min_length=1)
    """Suite name."""
    description: str = ""
    """What the suite checks."""
    datasets: list[str] = Field(min_length=1)
    """Dataset files or directories."""
    regression_cases: str | None = None
    """Directory of harvested regression cases to include (e.g. `../../regression_cases`); every case from it is
    tagged `regression`, so comparisons report it as its own group."""
    evaluators: list[Spec] = Field(default_factory=list)
    """Evaluators applied to every case."""
    cache: str | None = None
    """Default response-cache directory for runs of this suite."""

    _path: Path | None = PrivateAttr(default=None)

    @property
    def base_dir(self) -> Path:
        """Directory relative paths resolve against."""
        return self._path.parent if self._path else Path.cwd()

    def resolve(self, relative: str) -> Path:
        """Resolve a path written in the suite file."""
        p = Path(relative)
        return p if p.is_absolute() else self.base_dir / p

    @cached_property
    def dataset(self) -> Dataset:
        """All cases: the datasets plus the regression cases, with ids unique across them."""
        parts = [load_dataset(self.resolve(d)) for d in self.datasets]
        if self.regression_cases is not None:
            regression = load_dataset(self.resolve(self.regression_cases), allow_empty=True)
            tagged = [
                c if REGRESSION_TAG in c.tags else c.model_copy(update={"tags": [*c.tags, REGRESSION_TAG]})
                for c in regression.cases
            ]
            parts.append(Dataset(cases=tagged, sources=regression.sources, origins=regression.origins))
        return Dataset.merge(parts)

    def evaluator_specs_hash(self) -> str:
        """Hash of the suite-level evaluator specs."""
        return content_hash([s.model_dump(mode="json") for s in self.evaluators])

    def summary(self) -> dict[str, Any]:
        """What a run records about its suite."""
        return {
            "name": self.name,
            "path": str(self._path) if self._path else None,
            "datasets": list(self.datasets),
            "regression_cases": self.regression_cases,
            "evaluators": [s.model_dump(mode="json") for s in self.evaluators],
        }

    @classmethod
    def from_file(cls, path: str | Path) -> Suite:
        """Read and validate a suite file."""
        suite = load_model(path, cls)
        suite._path = Path(path)
        return suite


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file."""
    return Suite.from_file(path)
