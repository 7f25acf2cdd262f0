"""A griffe extension for the API reference: Sphinx roles in docstrings become code.

The docstrings are Google style but name things with Sphinx roles
(``:class:`TaskState```, ``:meth:`wait```), which Markdown would print as
``:class:`` followed by the name. This drops the role and keeps the name as code.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|meth|attr|func|mod|exc|data|obj):`~?([^`]+)`")


class SphinxRolesAsCode(griffe.Extension):
    """Rewrite ``:role:`name``` as ```name``` in every docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of each object as it is loaded."""
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(r"`\1`", obj.docstring.value)
