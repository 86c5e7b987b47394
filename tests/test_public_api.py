from __future__ import annotations

import importlib
import pkgutil

import pytest

import promptlab


def _packages() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.iter_modules(promptlab.__path__, "promptlab.")
        if m.ispkg and not m.name.split(".")[-1].startswith("_")
    )


def test_top_level_all_is_sorted_and_importable() -> None:
    assert promptlab.__all__ == sorted(promptlab.__all__)
    for name in promptlab.__all__:
        assert hasattr(promptlab, name), name


@pytest.mark.parametrize("package", _packages())
def test_each_subpackage_declares_a_sorted_all_of_real_names(package: str) -> None:
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{package} has no __all__"
    assert list(exported) == sorted(exported), f"{package}.__all__ is not sorted"
    for name in exported:
        assert hasattr(module, name), f"{package}.{name}"


def test_every_error_class_derives_from_promptlab_error() -> None:
    from promptlab import errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), promptlab.PromptlabError)


def test_every_public_name_has_a_lazy_source_module() -> None:
    lazy = promptlab._LAZY
    assert sorted(lazy) == [name for name in promptlab.__all__ if name != "__version__"]
    for name, module in lazy.items():
        assert getattr(importlib.import_module(module), name) is getattr(promptlab, name), name
