"""The public surface: one sorted list, every name documented, nothing else leaking."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import extruct_async
import extruct_async.testing


def public_members(obj: object) -> list[tuple[str, object]]:
    return [(name, member) for name, member in vars(obj).items() if not name.startswith("_")]


def test_all_is_sorted_and_complete() -> None:
    names = extruct_async.__all__
    assert names == sorted(names)
    # Names load lazily: every one in __all__ resolves, and nothing else public is there.
    exported = {name for name in dir(extruct_async) if not name.startswith("_")
                and not inspect.ismodule(getattr(extruct_async, name))}
    assert exported - {"annotations"} == set(names) - {"__version__"}
    for module in (extruct_async, extruct_async.testing):
        assert set(module.__all__) <= set(dir(module))
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_the_type_checkers_imports_are_the_public_list() -> None:
    # One list (``_PUBLIC``) feeds ``__all__`` and the lazy loader; type checkers read
    # the TYPE_CHECKING imports instead, which must name the same things from the
    # same modules, each re-exported explicitly (``import X as X``).
    source = Path(extruct_async.__file__).read_text(encoding="utf-8")
    imported = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module != "_lazy":
            for alias in node.names:
                if node.module != "_version":
                    assert alias.asname == alias.name, alias.name
                    imported[alias.name] = f".{node.module}"
    assert imported == extruct_async._PUBLIC


def test_every_public_name_has_a_docstring() -> None:
    missing = []
    for module in (extruct_async, extruct_async.testing):
        for name in module.__all__:
            obj = getattr(module, name)
            if not inspect.getdoc(obj):
                missing.append(f"{module.__name__}.{name}")
            if inspect.isclass(obj):
                for attr, member in public_members(obj):
                    if (inspect.isfunction(member) or isinstance(member, property)) and not (
                        inspect.getdoc(member)
                    ):
                        missing.append(f"{module.__name__}.{name}.{attr}")
    assert missing == []


def test_errors_form_one_tree() -> None:
    errors = [getattr(extruct_async, name) for name in extruct_async.__all__
              if name.endswith("Error")]
    assert all(issubclass(error, extruct_async.ExtructError) for error in errors)
    assert issubclass(extruct_async.WaitTimeoutError, TimeoutError)
    assert issubclass(extruct_async.InvalidRequestError, ValueError)
    assert issubclass(extruct_async.InvalidTypeError, TypeError)
    assert issubclass(extruct_async.TaskExhaustedError, extruct_async.BadRequestError)
    assert issubclass(extruct_async.APITimeoutError, extruct_async.APIConnectionError)
