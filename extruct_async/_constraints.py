"""The service's published input rules, in one place.

The SDK checks requests against these before sending anything, and the embedded
simulator (:mod:`extruct_async.testing`) answers with a 422 on the same rules, so
the two cannot drift apart.
"""

from __future__ import annotations

import re

__all__ = [
    "CRITERION_KEY_PATTERN",
    "CRITERION_NAME_LENGTH",
    "CRITERION_TEXT_LENGTH",
    "DATA_SOURCES",
    "DESIRED_NEW_RESULTS",
    "DESIRED_NUM_RESULTS",
    "MAX_EXCLUDED_DOMAINS",
    "MAX_EXCLUDE_TASK_IDS",
    "MAX_RESULTS_PER_TASK",
    "TASK_STATUSES",
]

#: ``criteria[].key``: a letter, then letters, digits or underscores.
CRITERION_KEY_PATTERN = re.compile(r"\A[a-zA-Z][a-zA-Z0-9_]*\Z")
#: ``criteria[].name`` length, inclusive.
CRITERION_NAME_LENGTH = (1, 100)
#: ``criteria[].criterion`` length, inclusive.
CRITERION_TEXT_LENGTH = (10, 500)
#: ``desired_num_results`` on create, inclusive.
DESIRED_NUM_RESULTS = (1, 250)
#: ``desired_new_results`` on resume, inclusive.
DESIRED_NEW_RESULTS = (0, 250)
#: A task never holds more results than this, resumes included.
MAX_RESULTS_PER_TASK = 250
#: ``exclude_task_ids`` length.
MAX_EXCLUDE_TASK_IDS = 100
#: The resolved ``exclude_domains`` of a task are capped at this many.
MAX_EXCLUDED_DOMAINS = 1000
#: The values of ``data_sources[]`` and of a result's ``source`` the reference pages name.
#: The service names more sources than these: the SDK sends any string (never stricter).
DATA_SOURCES = ("web_search", "linkedin", "maps")
#: Values of a task's ``status``.
TASK_STATUSES = ("created", "in_progress", "done", "failed")
