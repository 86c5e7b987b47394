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


def test_every_error_class_derives_from_promptlab_error_and_every_warning_from_promptlab_warning() -> None:
    from promptlab import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        base = errors.PromptlabWarning if issubclass(cls, Warning) else errors.PromptlabError
        assert issubclass(cls, base), name
        assert name in errors.__doc__, f"{name} is missing from the tree in errors.py's docstring"


def test_no_exception_or_warning_class_is_defined_outside_errors_py() -> None:
    # Private control-flow exceptions (a leading underscore) may live next to the code that raises them.
    import inspect

    for info in pkgutil.walk_packages(promptlab.__path__, "promptlab."):
        if info.name in ("promptlab.errors", "promptlab.__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                assert name.startswith("_"), f"{info.name}.{name} belongs in promptlab/errors.py"


def test_every_public_name_has_a_lazy_source_module() -> None:
    lazy = promptlab._LAZY
    assert sorted(lazy) == [name for name in promptlab.__all__ if name != "__version__"]
    for name, module in lazy.items():
        assert getattr(importlib.import_module(module), name) is getattr(promptlab, name), name
