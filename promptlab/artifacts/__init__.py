"""Prompt artifacts: the versioned, hashable, diffable prompt file."""

from promptlab.artifacts._diff import ArtifactDiff, Change, DiffSection, diff_artifacts
from promptlab.artifacts._model import (
    ExpectedChange,
    Message,
    ModelSettings,
    PromptArtifact,
    Retrieval,
    Tool,
    ToolFunction,
    Tools,
    load_artifact,
)

__all__ = [
    "ArtifactDiff",
    "Change",
    "DiffSection",
    "ExpectedChange",
    "Message",
    "ModelSettings",
    "PromptArtifact",
    "Retrieval",
    "Tool",
    "ToolFunction",
    "Tools",
    "diff_artifacts",
    "load_artifact",
]
