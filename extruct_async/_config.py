"""The client's configuration: its options, the environment, and the defaults.

``AsyncExtruct(...)`` hands its arguments to :func:`configure`, which checks each one
(an error names it), fills what was not given from the environment
(``EXTRUCT_API_TOKEN``, ``EXTRUCT_BASE_URL``, ``EXTRUCT_STORE``, ``EXTRUCT_LOG``) or
the defaults, and returns a :class:`Settings`. Nothing here opens a connection or a
store: :func:`open_scope` does, last, once every other option is known good.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs

from . import _arguments as check
from ._errors import ConfigurationError, InvalidRequestError, InvalidTypeError
from ._retry import RetryPolicy
from ._store import STORE_ENV, MemoryStore, Scope, Store, namespace_for, open_store
from ._transport import USER_AGENT, Headers, Timeout

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "LOG_ENV",
    "STORE_ENV",
    "Settings",
    "attempt_timeout_of",
    "configure",
    "open_scope",
    "retry_policy",
]

DEFAULT_BASE_URL = "https://api.extruct.ai"
API_KEY_ENV = "EXTRUCT_API_TOKEN"
BASE_URL_ENV = "EXTRUCT_BASE_URL"
#: ``info`` or ``debug``: log the SDK's requests and retries to stderr, as ``OPENAI_LOG``.
LOG_ENV = "EXTRUCT_LOG"
_MAX_RATE_LIMIT = 100_000.0


@attrs.frozen
class Settings:
    """A client's options, checked and completed from the environment and defaults.

    Attributes:
        base_url: the service, without a trailing slash.
        headers: sent with every request, ``Authorization`` included (masked in reprs).
        namespace: the client's namespace in a store (a hash of key and base URL).
        policy: the retry policy.
        max_concurrency: requests in flight at once.
        rate_limit: requests per second, or None.
        burst: requests that may start at once, or None (evenly spaced).
        attempt_timeout: the limits of one attempt.
        max_response_size: the largest answer read, in bytes.
        trust_env: take proxies from the environment.
    """

    base_url: str
    headers: Headers = attrs.field(repr=False)
    namespace: str = attrs.field(repr=False)
    policy: RetryPolicy
    max_concurrency: int
    rate_limit: float | None
    burst: int | None
    attempt_timeout: Timeout
    max_response_size: int
    trust_env: bool


def configure(
    *,
    api_key: object,
    base_url: object,
    max_concurrency: object,
    rate_limit: object,
    burst: object,
    max_retries: object,
    attempt_timeout: object,
    retry: object,
    trust_env: object,
    default_headers: object,
    max_response_size: object,
) -> Settings:
    """Check the options of ``AsyncExtruct`` and fill in the rest.

    Raises:
        ConfigurationError: no API key, or an option out of range (named).
    """
    try:  # first: from here on, a traceback that shows locals shows only a masked key
        credentials = _api_key(api_key)
    finally:
        api_key = None
    _log_from_environment()
    url = _base_url(base_url if base_url is not None else os.environ.get(BASE_URL_ENV))
    if burst is not None and rate_limit is None:
        raise ConfigurationError("burst: only meaningful with a rate_limit")
    try:
        policy = retry_policy(retry, max_retries)
        concurrency = check.integer("max_concurrency", max_concurrency, low=1)
        rate = _rate(rate_limit)
        bursts = None if burst is None else check.integer("burst", burst, low=1)
        limits = attempt_timeout_of(attempt_timeout)
        size = check.integer("max_response_size", max_response_size, low=1024)
        trust = check.boolean("trust_env", trust_env)
        headers = Headers({**_extra_headers(default_headers), **credentials})
    except InvalidRequestError as exc:
        raise ConfigurationError(str(exc)) from None
    return Settings(
        base_url=url,
        headers=headers,
        namespace=namespace_for(credentials["Authorization"][7:], url),
        policy=policy,
        max_concurrency=concurrency,
        rate_limit=rate,
        burst=bursts,
        attempt_timeout=limits,
        max_response_size=size,
        trust_env=trust,
    )


def retry_policy(retry: object, max_retries: object) -> RetryPolicy:
    """The retry policy from ``retry`` and ``max_retries`` (which overrides its count).

    Raises:
        InvalidRequestError: either is out of range (named).
    """
    policy = RetryPolicy() if retry is None else retry
    if not isinstance(policy, RetryPolicy):
        raise InvalidTypeError("retry", f"expected a RetryPolicy, got {type(policy).__name__}")
    if max_retries is not None:
        policy = attrs.evolve(policy, max_retries=check.integer("max_retries", max_retries, low=0))
    return policy


def attempt_timeout_of(value: object) -> Timeout:
    """The limits of one attempt: a :class:`Timeout`, or seconds for its ``total``.

    Raises:
        InvalidRequestError: not a number of seconds > 0.
    """
    if isinstance(value, Timeout):
        return value
    return Timeout(total=check.number("attempt_timeout", value))



def open_scope(store: object, namespace: str) -> Scope:
    """The client's store from the ``store`` option or ``$EXTRUCT_STORE``, opened.

    Raises:
        ConfigurationError: not a URL or a ``Store``, or a URL no store understands.
    """
    if isinstance(store, Store):
        return Scope(store, namespace, shared=True, owned=False)
    if store is None:
        store = os.environ.get(STORE_ENV) or None
    if store is not None and not isinstance(store, str):
        raise ConfigurationError(
            f"store: expected a URL or a Store, got {type(store).__name__}"
        )
    opened = open_store(store)
    private = isinstance(opened, MemoryStore)  # None, "" or memory://: this client only
    return Scope(opened, namespace, shared=not private, owned=True)


def _api_key(value: object) -> Headers:
    """The ``Authorization`` header for the key (or ``$EXTRUCT_API_TOKEN``'s)."""
    if value is None:
        value = os.environ.get(API_KEY_ENV)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigurationError(
            f"api_key: none given; pass api_key=... or set the {API_KEY_ENV} environment"
            " variable"
        )
    if not isinstance(value, str):
        raise ConfigurationError(f"api_key: expected a string, got {type(value).__name__}")
    key = value.strip()
    if any(ch.isspace() or not ch.isprintable() or not ch.isascii() for ch in key):
        key = value = ""  # neither the message nor a traceback's locals show the key
        raise ConfigurationError(
            "api_key: holds spaces, control or non-ASCII characters; check how it was read"
        )
    try:
        return Headers({"Authorization": f"Bearer {key}"})
    finally:
        key = value = ""


def _base_url(value: object) -> str:
    text = DEFAULT_BASE_URL if value is None or value == "" else value
    if not isinstance(text, str):
        raise ConfigurationError(f"base_url: expected a string, got {type(text).__name__}")
    try:
        parts = urlsplit(text.strip())
        port = parts.port  # a bad port raises here
    except ValueError as exc:
        raise ConfigurationError(f"base_url: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"base_url: expected an http(s) URL, got {text!r}")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError("base_url: must not hold a user name or password")
    if parts.query or parts.fragment:
        raise ConfigurationError("base_url: must not hold a query or fragment")
    del port
    return text.strip().rstrip("/")


def _rate(value: object) -> float | None:
    if value is None:
        return None
    rate = check.number("rate_limit", value)
    if rate > _MAX_RATE_LIMIT:
        raise InvalidRequestError("rate_limit", f"at most {_MAX_RATE_LIMIT:g}, or None")
    return rate


def _extra_headers(value: object) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if value is None:
        return headers
    if not isinstance(value, Mapping):
        raise InvalidTypeError("default_headers", f"expected a mapping, got {type(value).__name__}")
    for name, text in value.items():
        field = f"default_headers[{name!r}]"
        if not isinstance(name, str) or not isinstance(text, str):
            raise InvalidTypeError(field, "names and values must be strings")
        if name.lower() == "authorization":
            raise InvalidRequestError(field, "the API key is set with api_key=")
        if any(ch in "\r\n" for ch in name + text):
            raise InvalidRequestError(field, "holds a line break")
        headers[name] = text
    return headers


_log_configured = False


def _log_from_environment() -> None:
    """Honour ``$EXTRUCT_LOG`` (``info`` or ``debug``): log to stderr, once per process."""
    global _log_configured
    level = os.environ.get(LOG_ENV, "").strip().upper()
    if _log_configured or level not in ("INFO", "DEBUG"):
        return
    _log_configured = True
    logger = logging.getLogger("extruct_async")
    logger.setLevel(level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s extruct_async %(levelname)s %(message)s"))
    logger.addHandler(handler)
