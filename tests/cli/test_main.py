"""The entry points, global options, and the CLI staying out of ``import extruct_async``."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import extruct_async._cli as cli_package
from extruct_async import __version__
from extruct_async._cli import main
from extruct_async._cli._parser import build_parser


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"extruct-async {__version__}\n"


def test_help_documents_the_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for line in ("  2  bad command line", "  3  the API token", "  7  a task ended",
                 "130  interrupted", "EXTRUCT_API_TOKEN"):
        assert line in text
    assert main(["search", "--help"]) == 0
    assert "exit status:" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["--api-key", "k", "--base-url", "http://h", "-q", "tasks", "get", "ID"],
        ["tasks", "get", "ID", "--api-key", "k", "--base-url", "http://h", "-q"],
        ["--api-key", "other", "tasks", "get", "ID", "--api-key", "k", "--base-url", "http://h",
         "--quiet"],
    ],
)
def test_global_options_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.api_key, args.base_url, args.quiet, args.task_id) == ("k", "http://h", True, "ID")


def test_global_options_default_to_the_environment() -> None:
    args = build_parser().parse_args(["tasks", "list"])
    assert (args.api_key, args.base_url, args.quiet, args.limit) == (None, None, False, 20)


def test_criteria_and_sources_parse() -> None:
    args = build_parser().parse_args(
        ["search", "q", "--criterion", "has_api:Has an API:Offers an API: public, documented.",
         "--source", "maps"])
    (criterion,) = args.criterion
    assert (criterion.key, criterion.name) == ("has_api", "Has an API")
    assert criterion.criterion == "Offers an API: public, documented."
    assert args.source == ["maps"]


LOADED = ("import sys, {module}; print(sorted({{m.split('.')[0] if m.startswith('rich') else m"
          " for m in sys.modules if m.startswith(('rich', 'extruct_async._cli',"
          " 'extruct_async.testing')) and not m.startswith('extruct_async._client')}}))")


def loaded(module: str) -> str:
    done = subprocess.run([sys.executable, "-c", LOADED.format(module=module)],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_import_extruct_async_loads_no_cli_no_rich_no_simulator() -> None:
    assert loaded("extruct_async") == "[]"
    assert "rich" not in loaded("extruct_async._cli")  # only drawing bars imports it


# What no command but `demo` and `fake-server` needs: the simulator, the server side, rich.
HEAVY = ("aiohttp.web", "extruct_async.testing", "rich")
AFTER = """
import contextlib, io, sys
from extruct_async._cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    status = main({argv!r})
print(status, sorted(m for m in sys.modules if m.startswith({heavy!r})))
"""


def imported_after(*argv: str) -> str:
    """Run ``main(argv)`` in a fresh interpreter; return its status and the heavy modules loaded."""
    script = AFTER.format(argv=list(argv), heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, env={**os.environ, "EXTRUCT_API_TOKEN": ""})
    return done.stdout.strip()


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["search", "--help"], ["tasks", "list", "--help"],
     ["tasks", "get", "ID"], ["search", "q", "--bogus"]],
)
def test_cold_start_loads_no_simulator_no_server_no_rich(argv: list[str]) -> None:
    status, modules = imported_after(*argv).split(" ", 1)
    assert modules == "[]"
    assert status in ("0", "2")


def test_fake_server_loads_the_simulator_when_it_runs() -> None:
    # The counterpart of the test above: the simulator's options come from the simulator.
    status, modules = imported_after("fake-server", "--help").split(" ", 1)
    assert status == "0"
    assert "'aiohttp.web'" in modules
    assert "'extruct_async.testing'" in modules


def test_python_m_runs_the_cli() -> None:
    cli = subprocess.run([sys.executable, "-m", "extruct_async", "--version"],
                         capture_output=True, text=True, check=True)
    assert cli.stdout == f"extruct-async {__version__}\n"


def private_imports() -> set[tuple[str, str]]:
    """Every (module, name) the CLI imports from the SDK's private modules."""
    found = set()
    for path in Path(cli_package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module:
                found |= {(node.module, alias.name) for alias in node.names}
    return found


def test_the_cli_uses_the_sdks_public_api() -> None:
    # The simulator for demo and fake-server; the token's variable name until it is public.
    assert {module for module, _ in private_imports()} <= {"testing", "_config"}
    assert {name for module, name in private_imports() if module == "_config"} == {"API_KEY_ENV"}
