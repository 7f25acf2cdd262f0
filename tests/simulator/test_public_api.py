"""The public surface of extruct_async.testing stays sorted, complete and documented."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import extruct_async.testing as testing


def test_all_is_sorted_and_every_name_exists_and_is_documented() -> None:
    assert testing.__all__ == sorted(testing.__all__)
    for name in testing.__all__:
        value = getattr(testing, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name


def test_public_methods_are_documented() -> None:
    for cls in (testing.FakeExtructServer, testing.SimulatedTask, testing.RequestRecord):
        for name, member in vars(cls).items():
            public = not name.startswith("_")
            if public and (callable(member) or isinstance(member, property)):
                assert inspect.getdoc(member), f"{cls.__name__}.{name}"


def test_every_private_module_declares_its_names() -> None:
    for module in pkgutil.iter_modules(testing.__path__):
        if module.name.startswith("_") and module.name != "__main__":
            loaded = importlib.import_module(f"extruct_async.testing.{module.name}")
            # ruff (RUF022) keeps each __all__ sorted.
            assert all(hasattr(loaded, name) for name in loaded.__all__), module.name
