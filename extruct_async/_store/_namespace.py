"""The namespace: which clients share a store's state, named without the API key.

Clients with the same API key and base URL share one rate limit, one journal and
one set of claims and checkpoints. The store only ever sees a hash of the two, so
neither a SQLite file nor a Redis server holds anything to steal.
"""

from __future__ import annotations

import hashlib

__all__ = ["namespace_for"]

_DOMAIN = b"extruct-async store namespace v1\x00"


def namespace_for(api_key: str, base_url: str) -> str:
    """The namespace of a client: 32 hex digits of SHA-256 over (base URL, API key).

    A trailing slash of the base URL does not matter. API keys are long random
    tokens, so the hash cannot be reversed by guessing.
    """
    digest = hashlib.sha256(_DOMAIN)
    digest.update(base_url.rstrip("/").encode())
    digest.update(b"\x00")
    digest.update(api_key.encode())
    return digest.hexdigest()[:32]
