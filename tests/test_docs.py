"""Every code example in README.md and docs/ runs, against the simulator, on the fake clock.

Each fenced ``python`` block is one test. It runs as the reader would run it, with one
difference: it runs inside the test's event loop, so a top-level ``asyncio.run(main())``
becomes ``await main()`` (top-level ``await`` is allowed, as in ``python -m asyncio``).
Nothing else is rewritten: ``AsyncExtruct()`` reads ``EXTRUCT_BASE_URL`` and
``EXTRUCT_API_TOKEN``, which point at a started ``FakeExtructServer``. Searches of minutes
take milliseconds on ``looptime``'s fake clock.

- A block that defines ``test_*`` functions is a test module: it runs under pytest.
- A block made of mkdocs snippet lines (``--8<-- "examples/..."``) includes an example
  file; ``tests/test_examples.py`` runs that file.
- A block preceded by ``<!-- no-run: REASON -->`` is not run; ``NOT_RUN`` must list it.
- README fragments that need context (a ``task``) or a caller get it from ``HARNESS``.
- Every other fence names a language that is not Python (``sh``, ``toml``, ``text``).

A block that runs must show what it did: it asserts, prints, or has a harness check.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import io
import itertools
import json
import re
import shlex
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from extruct_async import AsyncExtruct
from extruct_async._cli._exit import _MEANINGS, ExitCode
from extruct_async._cli._parser import build_parser
from extruct_async.testing import FakeExtructServer, add_server_arguments
from tests.test_examples import EXAMPLE_FILES

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md"))]
PYTHON = {"python", "py"}

#: Blocks deliberately not run: (document, the block's first line) -> the reason given.
NOT_RUN = {
    ("README.md", "async with AsyncExtruct(api_key=None, base_url=None, *, max_concurrency=16, "
                  "rate_limit=10.0,"): "signature listing",
}

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>.*)$")
NO_RUN = re.compile(r"^\s*<!-- no-run: (?P<reason>[^>]+?) -->\s*$")
SNIPPET = re.compile(r'^--8<-- "(?P<path>[^":]+)(:[\w-]+)?"$')


@attrs.frozen
class Block:
    """One fenced code block of a document."""

    document: str
    line: int  # of the block's first code line, 1-based
    language: str
    code: str
    no_run: str | None

    @property
    def first_line(self) -> str:
        return self.code.splitlines()[0] if self.code.strip() else ""

    @property
    def included(self) -> list[str]:
        """The files a snippet-only block includes; empty for any other block."""
        lines = [line for line in self.code.splitlines() if line.strip()]
        matches = [SNIPPET.match(line) for line in lines]
        return [m["path"] for m in matches if m] if lines and all(matches) else []

    @property
    def is_test_module(self) -> bool:
        return any(
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")
            for node in ast.parse(self.code).body
        )

    def __str__(self) -> str:
        return f"{self.document}:{self.line}"


def parse(document: str, text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, with their language and no-run marker."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        language = opening["info"].split(" ", 1)[0].strip("{}.")
        before = next((line for line in reversed(lines[:i]) if line.strip()), "")
        marker = NO_RUN.match(before)
        end = i + 1
        while end < len(lines) and not (
            lines[end].strip().startswith(fence) and lines[end].strip().strip(fence[0]) == ""
        ):
            end += 1
        if end == len(lines):
            raise AssertionError(f"{document}:{i + 1}: the fence is never closed")
        code = textwrap.dedent("\n".join(line[indent:] for line in lines[i + 1:end]))
        blocks.append(Block(document, i + 2, language, code + "\n",
                            marker["reason"] if marker else None))
        i = end + 1
    return blocks


def all_blocks() -> list[Block]:
    return [b for d in DOCUMENTS for b in parse(d, (ROOT / d).read_text(encoding="utf-8"))]


BLOCKS = all_blocks()
PYTHON_BLOCKS = [b for b in BLOCKS if b.language in PYTHON]
SCRIPTS = [b for b in PYTHON_BLOCKS if b.no_run is None and not b.included
           and not b.is_test_module]
TEST_MODULES = [b for b in PYTHON_BLOCKS if b.no_run is None and b.is_test_module]


# Running a block -------------------------------------------------------------------------

class _AsyncioRunAwaited(ast.NodeTransformer):
    """``asyncio.run(x)`` as a statement at module level (an ``if`` included) -> ``await x``."""

    def visit_Expr(self, node: ast.Expr) -> ast.Expr:
        call = node.value
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr == "run" and isinstance(call.func.value, ast.Name)
                and call.func.value.id == "asyncio" and len(call.args) == 1):
            return ast.copy_location(ast.Expr(ast.Await(call.args[0])), node)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        return node  # only the module level is the reader's "script"

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AsyncFunctionDef:
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        return node


async def run_block(block: Block, namespace: dict[str, Any]) -> None:
    """Run a block's code in ``namespace``, tracebacks pointing at the document's lines."""
    tree = _AsyncioRunAwaited().visit(ast.parse(block.code))
    ast.increment_lineno(tree, block.line - 1)
    code = compile(ast.fix_missing_locations(tree), str(ROOT / block.document), "exec",
                   flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if asyncio.iscoroutine(result):
        await result


def asserts(block: Block) -> bool:
    return any(isinstance(node, ast.Assert) for node in ast.walk(ast.parse(block.code)))


# The harness of README fragments ---------------------------------------------------------

@attrs.frozen
class Harness:
    """Context for a fragment (``setup``) and what proves it worked (``check``)."""

    setup: Callable[[dict[str, Any], contextlib.AsyncExitStack], Awaitable[None]] | None = None
    check: Callable[[dict[str, Any], FakeExtructServer], Awaitable[None]] | None = None


async def finished_task(namespace: dict[str, Any], stack: contextlib.AsyncExitStack) -> None:
    client = await stack.enter_async_context(AsyncExtruct())
    task = await client.discovery_tasks.create("fleet telematics software",
                                               desired_num_results=10)
    namespace["task"] = await task.wait()


async def csv_written(namespace: dict[str, Any], fake: FakeExtructServer) -> None:
    header, *rows = (await asyncio.to_thread(Path("companies.csv").read_text)).splitlines()
    assert header.startswith("id,task_id,company_name,")
    assert len(rows) == len(fake.visible_rows(namespace["task"].id)) >= 10


async def imports(namespace: dict[str, Any], stack: contextlib.AsyncExitStack) -> None:
    exec("import asyncio, contextlib, json\nfrom aiohttp import web\n"
         "from extruct_async import AsyncExtruct", namespace)


async def running_task(namespace: dict[str, Any], stack: contextlib.AsyncExitStack) -> None:
    """``task`` just created, ``show`` collecting what the fragment shows."""
    await imports(namespace, stack)
    client = await stack.enter_async_context(AsyncExtruct())
    namespace["task"] = await client.discovery_tasks.create("fleet telematics software",
                                                            desired_num_results=10)
    namespace["shown"] = shown = []
    namespace["show"] = shown.append


async def shown_to_the_end(namespace: dict[str, Any], fake: FakeExtructServer) -> None:
    state = fake.task_state(namespace["task"].id)
    assert namespace["shown"][-1] == f"done: {state['num_results']} results"


async def a_finished_task(namespace: dict[str, Any], stack: contextlib.AsyncExitStack) -> None:
    await imports(namespace, stack)
    await finished_task(namespace, stack)


async def created_tasks(namespace: dict[str, Any], stack: contextlib.AsyncExitStack) -> None:
    """``client`` and three ``tasks`` just created."""
    await imports(namespace, stack)
    namespace["client"] = client = await stack.enter_async_context(AsyncExtruct())
    namespace["tasks"] = await client.discovery_tasks.create_many(
        [{"query": query, "desired_num_results": 10} for query in QUERIES])


async def every_task_finished(namespace: dict[str, Any], fake: FakeExtructServer) -> None:
    assert [t.status for t in namespace["tasks"]] == ["done"] * len(QUERIES)


QUERIES = ["freight forwarding software", "customs brokerage platforms", "port logistics"]


async def pipeline_printed_every_row(
    namespace: dict[str, Any], fake: FakeExtructServer
) -> None:
    await namespace["pipeline"](QUERIES)
    printed = namespace["_stdout"].getvalue().splitlines()
    every_row = [(t.query, r["company_name"]) for t in fake.tasks.values()
                 for r in fake.visible_rows(t.id)]
    assert len(every_row) > 30
    assert sorted(_query_and_name(line) for line in printed) == sorted(every_row)


def _query_and_name(line: str) -> tuple[str, str]:
    name, _, query = line[6:].rpartition(" <- ")  # after the relevance, 5 wide
    return query, name


async def handler_streamed_to_done(
    namespace: dict[str, Any], fake: FakeExtructServer
) -> None:
    async with AsyncExtruct() as client:
        app = web.Application()
        app[namespace["CLIENT"]] = client  # the fragment's own key
        app.router.add_get("/search", namespace["search"])
        async with TestClient(TestServer(app)) as http:
            answer = await http.get("/search", params={"q": "freight forwarding software"})
            assert answer.headers["Content-Type"] == "text/event-stream"
            events = [json.loads(line.removeprefix(b"data: ")) async for line in answer.content
                      if line.strip()]
    assert events[0]["status"] == "created"
    assert events[-1]["status"] == "done"
    assert events[-1]["results"] == fake.task_state(events[-1]["id"])["num_results"] >= 50


#: README fragments: (document, first line) -> their harness.
HARNESS = {
    ("README.md", "from extruct_async import to_dataframe"):
        Harness(setup=finished_task, check=csv_written),
    ("README.md", "# A pipeline: fan out 50 searches and stream every row into a consumer."):
        Harness(setup=imports, check=pipeline_printed_every_row),
    ("README.md", "# A web handler (aiohttp.web) that starts a search and reports progress "
                  "as server-sent events."):
        Harness(setup=imports, check=handler_streamed_to_done),
    ("README.md", "async with contextlib.aclosing(task.watch()) as states:"):
        Harness(setup=running_task, check=shown_to_the_end),
    ("README.md", "async with contextlib.aclosing(task.stream()) as rows:   # closed even if you "
                  "break out"):
        Harness(setup=a_finished_task),
    ("README.md", "finished = client.discovery_tasks.as_completed(tasks)"):
        Harness(setup=created_tasks, check=every_task_finished),
}


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[FakeExtructServer]:
    """The service the examples' ``AsyncExtruct()`` finds in the environment."""
    monkeypatch.chdir(tmp_path)  # examples may write files (companies.csv)
    async with FakeExtructServer(seed=2) as server:
        monkeypatch.setenv("EXTRUCT_BASE_URL", server.base_url)
        monkeypatch.setenv("EXTRUCT_API_TOKEN", server.api_key)
        monkeypatch.delenv("EXTRUCT_STORE", raising=False)  # examples name their store
        yield server


@pytest.mark.looptime
@pytest.mark.parametrize("block", SCRIPTS, ids=str)
async def test_example_runs(block: Block, fake: FakeExtructServer) -> None:
    harness = HARNESS.get((block.document, block.first_line), Harness())
    stdout = io.StringIO()
    namespace: dict[str, Any] = {"__name__": "__main__", "_stdout": stdout}
    async with contextlib.AsyncExitStack() as stack:
        if harness.setup is not None:
            await harness.setup(namespace, stack)
        with contextlib.redirect_stdout(stdout):
            await run_block(block, namespace)
            if harness.check is not None:
                await harness.check(namespace, fake)
    assert harness.check is not None or asserts(block) or stdout.getvalue(), (
        f"{block} neither asserts nor prints: show what it does, or give it a HARNESS check"
    )


TESTING_PAGE = "docs/testing.md"


def test_example_modules_pass_under_pytest(pytester: pytest.Pytester) -> None:
    assert TEST_MODULES, "the testing guide shows test modules"
    for number, block in enumerate(TEST_MODULES):
        pytester.makepyfile(**{f"test_example_{number}": block.code})
    expected = sum(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
        for block in TEST_MODULES for node in ast.parse(block.code).body
    )
    # The configuration the testing guide gives, and warnings as errors.
    [configuration] = [b.code for b in BLOCKS if b.document == TESTING_PAGE
                       and b.language == "toml" and "[tool.pytest.ini_options]" in b.code]
    pytester.makefile(".toml", pyproject=configuration)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=expected)


# The rules that keep every example honest -------------------------------------------------

def test_blocks_not_run_are_exactly_the_allow_list() -> None:
    marked = {(b.document, b.first_line): b.no_run for b in BLOCKS if b.no_run is not None}
    assert marked == NOT_RUN


def test_every_fence_names_its_language() -> None:
    assert [str(b) for b in BLOCKS if not b.language] == []
    # Python under another name (python3, pycon) would silently escape the runner.
    assert [str(b) for b in BLOCKS if b.language.startswith("py") and b.language not in PYTHON
            and b.language != "pytb"] == []


def test_every_harness_belongs_to_one_block() -> None:
    for key in HARNESS:
        assert [b for b in SCRIPTS if (b.document, b.first_line) == key], key
    keys = [(b.document, b.first_line) for b in SCRIPTS if (b.document, b.first_line) in HARNESS]
    assert sorted(keys) == sorted(HARNESS)


def test_included_files_are_run_by_tests() -> None:
    included = [path for b in PYTHON_BLOCKS for path in b.included]
    assert included, "the web-app guide includes its example"
    assert set(included) <= set(EXAMPLE_FILES)
    assert all((ROOT / path).is_file() for path in included)


def test_the_runner_fails_a_broken_example() -> None:
    [block] = parse("x.md", "```python\nimport asyncio\nasync def main():\n"
                            "    raise LookupError('broken')\nasyncio.run(main())\n```\n")
    with pytest.raises(LookupError, match="broken"):
        asyncio.run(run_block(block, {}))


def test_the_parser_sees_markers_languages_and_snippets() -> None:
    text = ('<!-- no-run: a listing -->\n\n```python\nf(x)\n```\n\n```sh\nls\n```\n\n'
            '    ```py title="app.py"\n    --8<-- "examples/webapp/app.py"\n    ```\n'
            '```\nbare\n```\n')
    listing, shell, snippet, bare = parse("x.md", text)
    assert (listing.no_run, listing.line, listing.code) == ("a listing", 4, "f(x)\n")
    assert (shell.language, shell.no_run) == ("sh", None)
    assert (snippet.language, snippet.included) == ("py", ["examples/webapp/app.py"])
    assert bare.language == ""
    assert not listing.is_test_module
    assert parse("x.md", "```python\ndef test_it():\n    pass\n```\n")[0].is_test_module


# The command-line page -----------------------------------------------------------------

CLI_PAGE = "docs/cli.md"
SHELL = {">", ">>", "<", "|", "&&", ";"}  # where a command's own arguments end


def test_cli_page_commands_parse() -> None:
    lines = [line for b in BLOCKS if b.document == CLI_PAGE and b.language == "sh"
             for line in b.code.replace("\\\n", " ").splitlines()
             if line.startswith("extruct-async ")]
    assert len(lines) >= 10
    parser = build_parser()
    refused = []
    for line in lines:
        words = shlex.shlex(line, posix=True, punctuation_chars=True)
        words.whitespace_split = True
        argv = list(itertools.takewhile(lambda word: word not in SHELL, words))[1:]
        with contextlib.redirect_stderr(io.StringIO()) as errors:
            try:  # as extruct_async._cli.main parses: fake-server's options are the simulator's
                args, rest = parser.parse_known_args(argv)
                if args.command == "fake-server":
                    add_server_arguments(simulator := argparse.ArgumentParser())
                    simulator.parse_args(rest)
                elif rest:
                    parser.error(f"unrecognized arguments: {' '.join(rest)}")
            except SystemExit:
                refused.append(f"{line}: {errors.getvalue()}")
    assert refused == []


def test_cli_page_exit_statuses_are_the_commands() -> None:
    text = (ROOT / CLI_PAGE).read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", text, flags=re.MULTILINE)
    assert {int(code): meaning for code, meaning in rows} == {
        int(code): meaning for code, meaning in _MEANINGS.items()
    }
    assert {int(code) for code, _ in rows} == set(ExitCode)


def test_readme_links_the_docs_site() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "[docs site](docs/index.md)" in readme
    assert (ROOT / "docs/index.md").is_file()
