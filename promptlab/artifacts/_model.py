"""The prompt artifact file format."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import jinja2
import jinja2.sandbox
from pydantic import Field, PrivateAttr, field_validator, model_validator

from promptlab._util.canonical import content_hash
from promptlab._util.files import load_model, validate_data
from promptlab._util.models import StrictModel
from promptlab.errors import TemplateError

__all__ = [
    "ExpectedChange",
    "Message",
    "ModelSettings",
    "PromptArtifact",
    "Retrieval",
    "Tool",
    "ToolFunction",
    "Tools",
    "load_artifact",
]

# Templates come from files anyone may edit: the sandbox keeps them from reaching Python internals (`__globals__`,
# `os`) or mutating the values they are given, in `artifact render`, in runs and in serving processes alike.
_ENV = jinja2.sandbox.ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
)

_SECRET_NAMES = re.compile(r"(?i)(key|token|secret|password|passwd|pwd|auth|signature|sig|credential)")

BEHAVIOURS = ("verbosity", "refusal_rate", "tool_usage", "output_format", "latency", "cost", "quality")


class Message(StrictModel):
    """One turn of the chat template."""

    role: Literal["system", "user", "assistant"]
    """Who speaks this turn."""
    content: str
    """Jinja2 template text; every variable it uses must be supplied by the case (no silent empty strings)."""

    @field_validator("content")
    @classmethod
    def _template_compiles(cls, value: str) -> str:
        try:
            _ENV.parse(value)
        except jinja2.TemplateSyntaxError as exc:
            raise ValueError(f"expected a valid Jinja2 template: {exc.message} (template line {exc.lineno})") from None
        return value


class ModelSettings(StrictModel):
    """Which model serves the prompt, with which sampling settings and prices."""

    provider: str = "openai"
    """Provider name (e.g. `openai` for any OpenAI-compatible endpoint, or `python:pkg.mod:function`)."""
    name: str
    """Model name sent to the provider (e.g. `gpt-4o-mini-2024-07-18`)."""
    family: str | None = None
    """Model family, for grouping (e.g. `gpt-4o`)."""
    temperature: float | None = Field(default=None, ge=0, le=2)
    """Sampling temperature."""
    top_p: float | None = Field(default=None, gt=0, le=1)
    """Nucleus sampling mass."""
    max_tokens: int | None = Field(default=None, gt=0)
    """Upper bound on generated tokens."""
    seed: int | None = None
    """Sampling seed, where the provider supports one."""
    base_url: str | None = None
    """Endpoint base URL (overrides `OPENAI_BASE_URL`); never with credentials in it (artifacts are published)."""
    input_price_per_mtok: float = Field(default=0.0, ge=0)
    """Price in USD per million input tokens."""
    output_price_per_mtok: float = Field(default=0.0, ge=0)
    """Price in USD per million output tokens."""

    @field_validator("base_url")
    @classmethod
    def _no_credentials(cls, value: str | None) -> str | None:
        # An artifact is hashed, published to the registry and packed into bundles: a secret in it leaks everywhere.
        if value is None:
            return value
        try:
            parts = urlsplit(value)
            names = [k for k, _ in parse_qsl(parts.query, keep_blank_values=True)]
        except ValueError:
            raise ValueError("expected an http(s) URL") from None
        if parts.username or parts.password:
            raise ValueError(
                "expected a URL without user or password: artifacts are published and signed; give the key through "
                "the provider's environment variable (e.g. OPENAI_API_KEY)"
            )
        secret = [k for k in names if _SECRET_NAMES.search(k)]
        if secret:
            raise ValueError(
                f"expected a URL without secret query parameters ({', '.join(secret)}): artifacts are published and "
                "signed; give the key through the provider's environment variable"
            )
        return value

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """Cost in USD of one call with this many tokens."""
        return (input_tokens * self.input_price_per_mtok + output_tokens * self.output_price_per_mtok) / 1e6


class ToolFunction(StrictModel):
    """An OpenAI-style function definition."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    """Function name the model calls."""
    description: str = ""
    """What the function does, as shown to the model."""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    """JSON Schema of the arguments."""
    strict: bool | None = None
    """OpenAI structured-outputs strictness for the arguments."""

    @field_validator("parameters")
    @classmethod
    def _schema_is_valid(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_schema(value)
        return value


class Tool(StrictModel):
    """An OpenAI-style tool."""

    type: Literal["function"] = "function"
    """Tool kind; only functions are supported."""
    function: ToolFunction
    """The function definition."""


class Tools(StrictModel):
    """The tools the prompt offers the model."""

    schema_version: str
    """Version of the tool schema the serving code implements (bumped when a tool's contract changes)."""
    functions: list[Tool] = Field(default_factory=list)
    """The tool definitions, OpenAI style."""

    @model_validator(mode="after")
    def _unique_names(self) -> Tools:
        seen: set[str] = set()
        for tool in self.functions:
            if tool.function.name in seen:
                raise ValueError(f"expected unique tool names, '{tool.function.name}' appears twice")
            seen.add(tool.function.name)
        return self


class Retrieval(StrictModel):
    """Retrieval settings the serving code applies before calling the model."""

    index: str
    """Name of the index or collection searched."""
    top_k: int = Field(default=5, gt=0)
    """How many passages are retrieved."""
    filters: dict[str, Any] = Field(default_factory=dict)
    """Metadata filters applied to the search."""
    min_score: float | None = None
    """Minimum similarity for a passage to be used."""
    reranker: str | None = None
    """Reranker model, if any."""
    embedding_model: str | None = None
    """Embedding model of the index."""


class ExpectedChange(StrictModel):
    """A behaviour change the author declares versus the parent version."""

    behaviour: Literal["verbosity", "refusal_rate", "tool_usage", "output_format", "latency", "cost", "quality"]
    """Which observable behaviour changes."""
    direction: Literal["increase", "decrease", "change"]
    """How it moves."""
    description: str = ""
    """The change in the author's words, e.g. "longer, friendlier replies"."""
    segment: dict[str, str] = Field(default_factory=dict)
    """Restrict the declaration to a segment (e.g. `{intent: legal}`); empty means everywhere."""


class PromptArtifact(StrictModel):
    """A versioned prompt: template, model, tools, schema and the changes it declares."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """Prompt name, stable across versions (e.g. `support-triage`)."""
    version: str = Field(min_length=1)
    """Version label (a string: `v2`, `2024-06-01`, `1.4.0` ...)."""
    owner: str = Field(min_length=1)
    """Who is accountable for this prompt."""
    parent: str | None = None
    """The version this one replaces."""
    description: str = ""
    """What the prompt is for."""
    messages: list[Message] = Field(min_length=1)
    """The chat template."""
    model: ModelSettings
    """Model, settings and prices."""
    tools: Tools | None = None
    """Tools offered to the model."""
    response_format: dict[str, Any] | None = None
    """JSON Schema the output must follow, if the output is structured."""
    retrieval: Retrieval | None = None
    """Retrieval settings, if the prompt is retrieval-augmented."""
    known_limitations: list[str] = Field(default_factory=list)
    """Limitations the owner knows and accepts."""
    expected_changes: list[ExpectedChange] = Field(default_factory=list)
    """Behaviour changes declared versus `parent`."""
    changelog: str = ""
    """Free text: what changed and why."""

    _path: Path | None = PrivateAttr(default=None)

    @field_validator("response_format")
    @classmethod
    def _response_schema_is_valid(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _check_schema(value)
        return value

    @property
    def ref(self) -> str:
        """`name@version`."""
        return f"{self.name}@{self.version}"

    @property
    def path(self) -> Path | None:
        """The file this artifact was read from, if any."""
        return self._path

    @cached_property
    def content_hash(self) -> str:
        """Stable `sha256:` hash of the content (independent of key order and formatting)."""
        return content_hash(self.model_dump(mode="json"))

    @cached_property
    def _templates(self) -> list[jinja2.Template]:
        return [_ENV.from_string(m.content) for m in self.messages]

    @cached_property
    def variables(self) -> frozenset[str]:
        """Every template variable the messages use."""
        from jinja2 import meta

        names: set[str] = set()
        for m in self.messages:
            names |= meta.find_undeclared_variables(_ENV.parse(m.content))
        return frozenset(names)

    def render(self, variables: dict[str, Any], *, case_id: str | None = None) -> list[dict[str, Any]]:
        """Render the chat template; a missing variable raises `TemplateError` naming it."""
        out = []
        for i, (message, template) in enumerate(zip(self.messages, self._templates, strict=True)):
            where = f" for case '{case_id}'" if case_id else ""
            source = str(self._path) if self._path is not None else self.ref
            try:
                content = template.render(variables)
            except jinja2.UndefinedError as exc:
                raise TemplateError(
                    f"{self.ref}: messages[{i}].content: {exc.message}{where} (expected it in the case's vars)"
                ) from None
            except jinja2.exceptions.SecurityError as exc:
                raise TemplateError(
                    f"{source}: messages[{i}].content: template refused by the sandbox{where}: {_line(exc)}"
                ) from None
            except Exception as exc:  # noqa: BLE001 - a template can raise anything (1/0, 'a' + 1 ...): still the file's fault
                raise TemplateError(
                    f"{source}: messages[{i}].content: template failed{where}: {type(exc).__name__}: {_line(exc)}"
                ) from None
            out.append({"role": message.role, "content": content})
        return out

    def tool_names(self) -> list[str]:
        """Names of the offered tools."""
        return [t.function.name for t in self.tools.functions] if self.tools else []

    def openai_tools(self) -> list[dict[str, Any]] | None:
        """The tools in OpenAI wire format."""
        if not self.tools or not self.tools.functions:
            return None
        return [t.model_dump(mode="json", exclude_none=True) for t in self.tools.functions]

    @classmethod
    def from_file(cls, path: str | Path) -> PromptArtifact:
        """Read and validate an artifact from YAML or JSON."""
        artifact = load_model(path, cls)
        artifact._path = Path(path)
        return artifact

    @classmethod
    def from_data(cls, data: Any, *, source: str = "<artifact>") -> PromptArtifact:
        """Validate an artifact from already-parsed data (e.g. from a registry or a bundle)."""
        return validate_data(source, cls, data)


def load_artifact(path: str | Path) -> PromptArtifact:
    """Read and validate a prompt artifact file."""
    return PromptArtifact.from_file(path)


def _line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."


def _check_schema(schema: dict[str, Any]) -> None:
    # jsonschema loads on first use: it costs ~80 ms, and most commands check no schema.
    from promptlab._util.jsonschema import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        raise ValueError(f"expected a valid JSON Schema: {exc.message}" + (f" at {where}" if where else "")) from None
