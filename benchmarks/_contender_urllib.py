"""What the vendor's own tool does: synchronous, one task at a time, fixed-interval polls.

Standard library only (urllib, a new connection per request): create a task, poll it
every ``poll_interval`` until ``status`` is done or failed, read its results in pages of
``page_size``, then the next task. An HTTP error ends that task (the vendor's tooling
treats a 429 as a refusal, not as a signal to retry) and the loop goes on.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from typing import Any


def _call(method: str, url: str, api_key: str, body: object = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
    })
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def run(*, url: str, api_key: str, queries: list[str], desired_num_results: int,
        poll_interval: float, page_size: int, rate_limit: float) -> dict[str, Any]:
    errors: Counter[str] = Counter()
    completed = rows = 0
    started = time.perf_counter()
    tasks_url = f"{url}/v1/discovery_tasks"
    for query in queries:
        try:
            body = {"query": query, "desired_num_results": desired_num_results}
            task = _call("POST", tasks_url, api_key, body)
            while task["status"] not in ("done", "failed"):
                time.sleep(poll_interval)
                task = _call("GET", f"{tasks_url}/{task['id']}", api_key)
            offset = 0
            while True:
                query_string = urllib.parse.urlencode({"offset": offset, "limit": page_size})
                page = _call("GET", f"{tasks_url}/{task['id']}/results?{query_string}",
                             api_key)["results"]
                rows += len(page)
                if len(page) < page_size:
                    break
                offset += page_size
            completed += 1
        except urllib.error.HTTPError as exc:
            errors[f"HTTP {exc.code}"] += 1
        except OSError as exc:
            errors[type(exc).__name__] += 1
    return {"wall": time.perf_counter() - started, "completed": completed, "rows": rows,
            "errors": dict(errors)}
