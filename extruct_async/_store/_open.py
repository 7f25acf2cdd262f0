"""``open_store``: from the ``store`` option (or ``$EXTRUCT_STORE``) to a store.

| URL | store |
|---|---|
| None, ``""`` or ``memory://`` | ``MemoryStore``: this process only |
| ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` | ``SQLiteStore`` |
| ``redis://``, ``rediss://``, ``unix://`` (``valkey://``, ``valkeys://``) | ``RedisStore`` |

SQLite paths follow SQLAlchemy's convention: three slashes, then the path, so an
absolute path shows a fourth. Nothing is connected here: the first operation does.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from .._errors import ConfigurationError
from ._base import Store
from ._memory import MemoryStore

if TYPE_CHECKING:
    from ._sqlite import SQLiteStore

__all__ = ["STORE_ENV", "open_store"]

#: The environment variable that names the store when the option is not given.
STORE_ENV = "EXTRUCT_STORE"
_REDIS_SCHEMES = ("redis", "rediss", "unix", "valkey", "valkeys")


def open_store(url: str | None) -> Store:
    """The store a URL names; see the module docstring for the forms.

    Raises:
        ConfigurationError: the URL is malformed or of an unknown kind, the SQLite
            file's directory does not exist, or a Redis URL is given without the
            ``redis`` package (``pip install 'extruct-async[redis]'``).
    """
    if not url:
        return MemoryStore()
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise _bad(url, "expected a URL such as sqlite:///extruct.db or redis://localhost:6379/0")
    if scheme == "memory":
        if rest:
            raise _bad(url, "memory:// takes nothing after it")
        return MemoryStore()
    if scheme == "sqlite":
        return _sqlite(url, rest)
    if scheme in _REDIS_SCHEMES:
        try:
            from ._redis import RedisStore
        except ImportError as exc:
            raise ConfigurationError(
                f"store={_redact(url)!r} needs the redis package: "
                "pip install 'extruct-async[redis]'"
            ) from exc
        try:
            return RedisStore(url)
        except ValueError as exc:  # redis-py's own URL checks
            raise _bad(url, str(exc)) from exc
    raise _bad(url, f"unknown kind {scheme!r}: use sqlite:///PATH or redis://HOST:PORT/DB")


def _sqlite(url: str, rest: str) -> SQLiteStore:
    if not rest.startswith("/") or len(rest) < 2:
        raise _bad(url, "expected sqlite:///relative/path.db or sqlite:////absolute/path.db")
    if "?" in rest or "#" in rest:
        raise _bad(url, "a SQLite store URL takes no query or fragment")
    path = rest[1:]
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise _bad(url, f"the directory {directory!r} does not exist")
    from ._sqlite import SQLiteStore

    return SQLiteStore(path)


def _bad(url: str, problem: str) -> ConfigurationError:
    return ConfigurationError(
        f"store={_redact(url)!r} (the store option or ${STORE_ENV}): {problem}"
    )


def _redact(url: str) -> str:
    """The URL without a password, for messages."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rpartition("@")[2]
        user = f"{parts.username}:***@" if parts.username else ":***@"
        return urlunsplit(parts._replace(netloc=user + netloc))
    except ValueError:
        return "<unparseable URL>"
