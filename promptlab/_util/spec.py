"""Specs: how every pluggable part (evaluator, provider, gate rule, detector) round-trips through files.

A spec is a registered name plus keyword arguments. In YAML it has three short forms::

    - json_valid                         # no arguments
    - contains: "order"                  # one positional argument (the part's first field)
    - contains: {value: order, case_sensitive: false}

Pluggable parts are keyword-only dataclasses registered under a name; `to_spec()` records the arguments that
differ from their defaults, so a run or a bundle records exactly what ran and can rebuild it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, model_serializer, model_validator

from promptlab.errors import SpecError

__all__ = ["Pluggable", "SpecRegistry", "Spec"]


class Spec(BaseModel):
    """A registered name and the keyword arguments that build the part."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    """The name the part is registered under."""
    args: dict[str, Any] = {}
    """Keyword arguments; a positional short form is stored under the `_` key until it is resolved."""

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value, "args": {}}
        if isinstance(value, dict) and set(value) - {"name", "args"} and len(value) == 1:
            ((name, arg),) = value.items()
            if arg is None:
                return {"name": name, "args": {}}
            if isinstance(arg, dict):
                return {"name": name, "args": arg}
            return {"name": name, "args": {"_": arg}}
        if isinstance(value, dict) and len(value) != 1 and "name" not in value:
            raise ValueError("expected a name, or a mapping with exactly one key: the name")
        return value

    @model_serializer
    def _serialize(self) -> Any:
        if not self.args:
            return self.name
        return {self.name: dict(self.args)}


P = TypeVar("P", bound="Pluggable")


class Pluggable:
    """Mixin for dataclass parts built from specs."""

    spec_name: ClassVar[str] = ""

    def to_spec(self) -> Spec:
        """Return the spec that rebuilds this part: its name and every argument not at its default."""
        args: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if not f.init or f.name.startswith("_"):
                continue
            value = getattr(self, f.name)
            default = (
                f.default
                if f.default is not dataclasses.MISSING
                else (f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
            )
            if default is dataclasses.MISSING or value != default:
                args[f.name] = _plain(value)
        return Spec(name=self.spec_name, args=args)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class SpecRegistry(Generic[P]):
    """Name -> part class, with argument checking that names the part and the argument."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._parts: dict[str, type[P]] = {}

    def register(self, name: str) -> Callable[[type[P]], type[P]]:
        """Class decorator registering a dataclass part under `name`."""

        def decorate(cls: type[P]) -> type[P]:
            if not dataclasses.is_dataclass(cls):
                raise TypeError(f"{cls.__name__} must be a dataclass to be registered as a {self.kind}")
            cls.spec_name = name
            self._parts[name] = cls
            return cls

        return decorate

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._parts)

    def get(self, name: str) -> type[P]:
        """Return the class registered under `name`."""
        try:
            return self._parts[name]
        except KeyError:
            known = ", ".join(self.names())
            raise SpecError(f"unknown {self.kind} '{name}' (known: {known})") from None

    def build(self, spec: Spec | str | dict[str, Any]) -> P:
        """Build a part from a spec (or one of its short forms)."""
        if not isinstance(spec, Spec):
            try:
                spec = Spec.model_validate(spec)
            except ValidationError as exc:
                raise SpecError(f"bad {self.kind} spec {spec!r}: {exc.errors()[0]['msg']}") from None
        cls = self.get(spec.name)
        fields = [f for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")]  # type: ignore[arg-type]
        names = [f.name for f in fields]
        args = dict(spec.args)
        if "_" in args:
            if not fields:
                raise SpecError(f"{self.kind} '{spec.name}' takes no arguments")
            args[fields[0].name] = args.pop("_")
        unknown = sorted(set(args) - set(names))
        if unknown:
            raise SpecError(
                f"{self.kind} '{spec.name}': unknown argument '{unknown[0]}' (expected: {', '.join(names) or 'none'})"
            )
        try:
            built: P = _validate_args(TypeAdapter(cls), args)
            return built
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "arguments"
            if err["type"] == "missing":
                raise SpecError(f"{self.kind} '{spec.name}': missing required argument '{where}'") from None
            msg = (
                err["msg"].lower().replace("a valid array", "a valid list").replace("a valid object", "a valid mapping")
            )
            raise SpecError(f"{self.kind} '{spec.name}': argument '{where}': {msg}") from None


def _validate_args(adapter: TypeAdapter[Any], args: dict[str, Any]) -> Any:
    """Validate arguments strictly when they are file data (`threshold: true` is not 1.0); else as given."""
    try:
        text = json.dumps(args, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError):
        return adapter.validate_python(args)  # Python objects from the API: ordinary validation
    return adapter.validate_json(text, strict=True)
