"""What "the same create" means: the fields of a create that a task object shows.

The API has no idempotency key, and a create costs credits. When an attempt fails in a
way that may have created the task (a 5xx, a lost answer), the next step looks for
that task among the newest ones instead of sending again (``_create``), and a journaled
key whose sender died is reconciled the same way (``_idempotency``). Both ask one rule,
:func:`same_create`: a create and a listed task are the same when every field the task
object shows agrees with the create body: query, target, data-source mode and sources,
criteria, table, excluded domains (normalised to registered domains, as the service
does). A field the task cannot show (the table's ``run``/``columns``/``auto_import``,
``exclude_task_ids``; criteria or sources the service picks itself; domains the service
adds from excluded tasks or caps) counts as "could be the same" (:data:`UNKNOWN`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from . import _constraints as rules
from ._domains import registered_domain
from ._models import TaskState

__all__ = ["UNKNOWN", "CreateIdentity", "registered_domains", "same_create"]


class _Unknown:
    """A field one side cannot show: it agrees with anything."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()


@attrs.frozen
class CreateIdentity:
    """The fields of a create that a task object shows, normalised; UNKNOWN if unseen."""

    query: str
    desired_num_results: int
    auto_data_sources: bool
    data_sources: frozenset[str] | _Unknown
    criteria: tuple[tuple[str, str, str], ...] | _Unknown
    table_id: str | None
    exclude_domains: frozenset[str] | _Unknown

    @classmethod
    def of_body(cls, body: Mapping[str, Any]) -> CreateIdentity:
        """The identity of a create request body (as ``_protocol`` builds it)."""
        auto = bool(body.get("auto_data_sources", True))
        sources = body.get("data_sources")
        criteria = body.get("criteria")
        table = body.get("table")
        domains: frozenset[str] | _Unknown = UNKNOWN
        if not body.get("exclude_task_ids"):  # else the service adds those tasks' domains
            domains = registered_domains(body.get("exclude_domains") or ())
        return cls(
            query=body["query"],
            desired_num_results=body.get("desired_num_results", 100),
            auto_data_sources=auto,
            data_sources=UNKNOWN if auto or sources is None else frozenset(sources),
            criteria=UNKNOWN if criteria is None else tuple(
                (c["key"], c["name"], c["criterion"]) for c in criteria
            ),
            table_id=table["id"] if table else None,
            exclude_domains=domains,
        )

    @classmethod
    def of_task(cls, state: TaskState) -> CreateIdentity:
        """The identity of a task as the service shows it."""
        domains = state.exclude_domains or ()
        capped = len(domains) >= rules.MAX_EXCLUDED_DOMAINS
        return cls(
            query=state.query,
            desired_num_results=state.desired_num_results,
            auto_data_sources=state.auto_data_sources,
            data_sources=(
                UNKNOWN if state.auto_data_sources
                else frozenset(str(s) for s in state.data_sources or ())
            ),
            criteria=tuple((c.key, c.name, c.criterion) for c in state.criteria or ()),
            table_id=state.table_id,
            exclude_domains=UNKNOWN if capped else frozenset(domains),
        )


def registered_domains(values: Sequence[str]) -> frozenset[str]:
    """The registered domains of ``values`` (URLs or hosts), as the service keeps them."""
    found = (registered_domain(value) for value in values)
    return frozenset(domain for domain in found if domain is not None)


def same_create(a: CreateIdentity, b: CreateIdentity) -> bool:
    """Whether ``a`` and ``b`` may be the same create: no field both show differs."""
    for field in attrs.fields(CreateIdentity):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if x is not UNKNOWN and y is not UNKNOWN and x != y:
            return False
    return True
