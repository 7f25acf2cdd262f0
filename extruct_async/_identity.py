"""What "the same create" means: the fields of a create that a task object shows.

The API has no idempotency key, and a create costs credits. When an attempt fails in a
way that may have created the task (a 5xx, a lost answer), the next step looks for
that task among the newest ones instead of sending again (``_create``), and a journaled
key whose sender died is reconciled the same way (``_idempotency``). Both ask one rule,
:func:`same_create`: a create and a listed task are the same when every field the task
object shows agrees with the create body: query, target, data-source mode and sources,
criteria, table, excluded domains. A field the task cannot show (the table's
``run``/``columns``/``auto_import``, ``exclude_task_ids``; criteria or sources the service
picks itself; domains the service adds from excluded tasks or caps) counts as "could be
the same" (:data:`UNKNOWN`).

Both sides are normalised the way the service may normalise them, and where its way is
not published, the rule is tolerant: a spelling the service might have produced never
tells two creates apart.

- ``query``: whitespace around it and runs of whitespace inside it do not count.
- ``data_sources``: compared as strings, known or not.
- ``exclude_domains``: each entry reduced to its registered domain (``_domains``), as
  the service does (``https://www.Acme.com/about`` is ``acme.com``). A domain the task
  shows agrees with an entry when any of their :func:`~extruct_async._domains.spellings`
  meet (Unicode or punycode, IDNA 2003 or 2008, with or without the Public Suffix List's
  private section); a shown domain in which the SDK finds no registered domain (another
  snapshot of the list) makes the field UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from . import _constraints as rules
from ._domains import registered_domain, spellings
from ._models import TaskState

__all__ = ["UNKNOWN", "CreateIdentity", "registered_domains", "same_body", "same_create"]


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


def _domains_agree(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two sets of excluded domains may be one: each entry meets the other side."""
    if a == b:
        return True
    forms_a, forms_b = _forms(a), _forms(b)
    if forms_a is None or forms_b is None:
        return True  # a domain the SDK cannot read: the service's reduction is unknown
    all_a: frozenset[str] = frozenset().union(*forms_a)
    all_b: frozenset[str] = frozenset().union(*forms_b)
    return all(forms & all_b for forms in forms_a) and all(forms & all_a for forms in forms_b)


def _forms(domains: frozenset[str]) -> list[frozenset[str]] | None:
    found = []
    for domain in domains:
        forms = spellings(domain)
        if forms is None:
            return None
        found.append(forms)
    return found


def _collapse_spaces(query: str) -> str:
    # Whether the service strips or collapses spaces is not published: never count them.
    return " ".join(query.split())


#: How two values of a field are compared, where plain equality is not the rule.
_AGREE = "agree"


@attrs.frozen
class CreateIdentity:
    """The fields of a create that a task object shows, normalised; UNKNOWN if unseen."""

    query: str = attrs.field(converter=_collapse_spaces)
    desired_num_results: int
    auto_data_sources: bool
    data_sources: frozenset[str] | _Unknown
    criteria: tuple[tuple[str, str, str], ...] | _Unknown
    table_id: str | None
    exclude_domains: frozenset[str] | _Unknown = attrs.field(
        metadata={_AGREE: _domains_agree}
    )

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
            data_sources=(
                UNKNOWN if auto or sources is None else frozenset(str(s) for s in sources)
            ),
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
        if x is UNKNOWN or y is UNKNOWN:
            continue
        agree = field.metadata.get(_AGREE)
        if not (x == y if agree is None else agree(x, y)):
            return False
    return True


def same_body(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two create bodies ask the service for the same create, field for field.

    Stricter than :func:`same_create` (every field counts, seen by a task or not), and
    blind only to what the service normalises itself: whitespace in the query, the
    spelling of an excluded domain (a URL or its registered domain, Unicode or punycode),
    the order of ``data_sources`` and ``exclude_domains``. An idempotency key's journaled
    body and a later call's are compared with it.
    """
    return a == b or _as_the_service_reads(a) == _as_the_service_reads(b)


def _as_the_service_reads(body: Mapping[str, Any]) -> dict[str, Any]:
    read = dict(body)
    read["query"] = _collapse_spaces(body["query"])
    domains = body.get("exclude_domains")
    if domains is not None:
        read["exclude_domains"] = sorted(registered_domains(domains))
    sources = body.get("data_sources")
    if sources is not None:
        read["data_sources"] = sorted({str(source) for source in sources})
    return read
