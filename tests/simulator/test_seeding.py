"""Deterministic draws."""

from __future__ import annotations

import random
import uuid

from extruct_async.testing._seeding import rng, stable_int, stable_uuid, uuid_from_bits


def test_uuid_from_bits_is_a_version_4_uuid_of_those_bits() -> None:
    draws = random.Random(5)
    for _ in range(1000):
        bits = draws.getrandbits(128)
        assert uuid_from_bits(bits) == str(uuid.UUID(int=bits, version=4))


def test_draws_depend_only_on_their_parts() -> None:
    assert stable_int(1, "task", 0, "q") == stable_int(1, "task", 0, "q")
    assert stable_int(1, "task", 0, "q") != stable_int(1, "task", 1, "q")
    assert stable_int("a", 1) != stable_int("a1")
    assert stable_uuid(3, "x") == stable_uuid(3, "x")
    assert rng(7, "r").random() == rng(7, "r").random()
