"""The Deep Search protocol with no I/O, in two halves, both plain and synchronous.

- ``_requests``: the way out. Each request is built, and its arguments checked
  against the service's rules (bad input raises :class:`InvalidRequestError` naming the
  field), before anything touches the network.
- ``_answers``: the way in. :func:`decode` is the one place an answer becomes the model
  the request asked for, or the error it stands for.

The layers above import from here; ``_answers`` reads a request's :class:`Kind`, and
``_requests`` knows nothing of answers.
"""

from ._answers import (
    MESSAGE_EXCERPT,
    Reply,
    ResultsPage,
    decode,
    parse_retry_after,
    service_date,
    status_error,
)
from ._requests import (
    TASKS_PATH,
    Kind,
    Request,
    create_request,
    encode_body,
    get_request,
    list_request,
    results_request,
    resume_request,
    task_id,
)

__all__ = [
    "MESSAGE_EXCERPT",
    "TASKS_PATH",
    "Kind",
    "Reply",
    "Request",
    "ResultsPage",
    "create_request",
    "decode",
    "encode_body",
    "get_request",
    "list_request",
    "parse_retry_after",
    "results_request",
    "resume_request",
    "service_date",
    "status_error",
    "task_id",
]
