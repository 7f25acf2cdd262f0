"""open_store: the URL forms, and clear configuration errors naming the option."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from extruct_async import ConfigurationError
from extruct_async._store import MemoryStore, SQLiteStore, open_store


@pytest.mark.parametrize("url", [None, "", "memory://"])
def test_no_url_means_memory(url: str | None) -> None:
    assert isinstance(open_store(url), MemoryStore)


def test_sqlite_paths_follow_sqlalchemy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///extruct.db")
    absolute = open_store(f"sqlite:///{tmp_path}/extruct.db")  # a fourth slash
    assert isinstance(relative, SQLiteStore)
    assert isinstance(absolute, SQLiteStore)
    assert relative.path == absolute.path == os.path.join(tmp_path, "extruct.db")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("extruct.db", "expected a URL"),
        ("sqlite://", "expected sqlite:///"),
        ("sqlite:///", "expected sqlite:///"),
        ("sqlite:///no/such/dir/extruct.db", "does not exist"),
        ("sqlite:///extruct.db?mode=ro", "no query"),
        ("memory://somewhere", "takes nothing"),
        ("postgres://localhost/extruct", "unknown kind 'postgres'"),
        ("redis://:hunter2@localhost:notaport/0", "Port"),
    ],
)
def test_bad_urls_name_the_option(url: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match="EXTRUCT_STORE") as caught:
        open_store(url)
    assert problem in str(caught.value)
    assert str(caught.value).startswith("store=")
    assert "hunter2" not in str(caught.value)


def test_redis_without_the_package_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "extruct_async._store._redis", raising=False)
    with pytest.raises(ConfigurationError, match=r"pip install 'extruct-async\[redis\]'"):
        open_store("redis://:hunter2@localhost:6379/0")
    with pytest.raises(ConfigurationError) as caught:
        open_store("redis://:hunter2@localhost:6379/0")
    assert "hunter2" not in str(caught.value)
    assert "store='redis://:***@localhost:6379/0'" in str(caught.value)
