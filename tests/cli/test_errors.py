"""Failures end as one ``error:`` line and the exit status of their kind, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from extruct_async._cli import main

from .conftest import ThreadedFake, assert_clean_error

TOKEN = "sk-live-DO-NOT-ECHO-8c1e5"


def test_bad_token_exits_3_without_echoing_it(cli, fake: ThreadedFake) -> None:
    for args, env in (
        (("--api-key", TOKEN, "tasks", "list"), fake.env()),
        (("tasks", "list"), {**fake.env(), "EXTRUCT_API_TOKEN": TOKEN}),
        (("search", "anything at all", "--api-key", TOKEN), fake.env()),
    ):
        done = cli(*args, env=env)
        line = assert_clean_error(done, 3)
        assert "401" in line
        assert TOKEN not in done.stderr + done.stdout


def test_usage_errors_hide_tokens(monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EXTRUCT_API_TOKEN", TOKEN)
    assert main(["--apikey=sk-typo-123", "tasks", "list"]) == 2
    assert main(["tasks", "get", TOKEN, "extra"]) == 2
    err = capsys.readouterr().err
    assert "--apikey=***" in err
    assert "sk-typo-123" not in err
    assert TOKEN not in err


def test_missing_token_is_a_usage_error(cli, fake: ThreadedFake) -> None:
    env = {**fake.env(), "EXTRUCT_API_TOKEN": ""}
    line = assert_clean_error(cli("tasks", "list", env=env), 2)
    assert "EXTRUCT_API_TOKEN" in line
    assert "--api-key" in line


def test_unknown_task_exits_4(cli) -> None:
    for args in (("tasks", "get", "no-such-task"), ("tasks", "wait", "no-such-task"),
                 ("tasks", "results", "no-such-task", "--follow")):
        assert "not found" in assert_clean_error(cli(*args), 4).lower()


@pytest.mark.parametrize(
    "args",
    [
        ("search", "q", "--bogus"),
        ("search", "q", "--results", "0"),
        ("search", "q", "--results", "many"),
        ("search", "q", "--source", "fax"),
        ("search", "q", "--criterion", "no colons"),
        ("search", "q", "--criterion", "bad key:Name:The company does something."),
        ("search", "q", "--criterion", "k:Name:too short"),
        ("search", "q", "--poll-interval", "-1"),
        ("search", "q", "--no-wait", "--output", "x.csv"),
        ("search", "q", "--output", "/no/such/dir/rows.csv"),
        ("search", "q", "--output", "rows.txt"),
        ("search", "q", "--output", "rows.csv", "--format", "table"),
        ("tasks", "results", "ID", "--output", "rows"),
        ("tasks", "results", "ID", "--format", "table", "--output", "rows.json"),
        ("tasks", "wait"),
        ("demo", "--tasks", "99"),
        ("fake-server", "--port", "many"),
        ("fake-server", "--bogus"),
    ],
)
def test_bad_command_lines_exit_2_before_anything_is_sent(
    args: tuple[str, ...], fake: ThreadedFake, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EXTRUCT_BASE_URL", fake.server.base_url)
    monkeypatch.setenv("EXTRUCT_API_TOKEN", fake.server.api_key)
    before = fake.call(lambda: len(fake.server.requests))
    assert main(list(args)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert fake.call(lambda: len(fake.server.requests)) == before


def no_request_but(argv: list[str], fake: ThreadedFake, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``main(argv)``: assert exit 2, one error line, nothing sent; return the line."""
    monkeypatch.setenv("EXTRUCT_BASE_URL", fake.server.base_url)
    monkeypatch.setenv("EXTRUCT_API_TOKEN", fake.server.api_key)
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert fake.endpoints() == []
    return err


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("search", "q", "--exclude-domain", "not a domain"), "--exclude-domain"),
        (("search", "q", "--exclude-domain", "localhost"), "--exclude-domain"),
        (("search", "q", "--exclude-task", " "), "--exclude-task"),
        (("search", "q", *(f"--exclude-task=t{n}" for n in range(101))), "--exclude-task"),
        (("search", "q", "--table", " "), "--table"),
        (("search", "q", "--table-run"), "--table-run"),
        (("search", "q", "--criterion", "k:Key:The company does a thing.",
          "--criteria-file", "c.json"), "--criteria-file"),
        (("search", "q", "--criterion", "bad key:Name:The company does something."),
         "--criterion"),
        (("search", "--results", "5"), "query"),
        (("tasks", "list", "--all", "--limit", "5"), "--all"),
        (("tasks", "list", "--status", "running"), "--status"),
        (("tasks", "list", "--offset", "-1"), "--offset"),
        (("tasks", "results", "ID", "--limit", "0"), "--limit"),
        (("tasks", "results", "ID", "--follow", "--limit", "5"), "--limit"),
        (("tasks", "results", "ID", "--follow", "--offset", "5"), "--offset"),
    ],
)
def test_bad_options_are_named_before_anything_is_sent(
    args: tuple[str, ...], option: str, fake: ThreadedFake, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert option in no_request_but(list(args), fake, monkeypatch, capsys)


@pytest.mark.parametrize(
    ("option", "content", "problem"),
    [
        ("--criteria-file", None, "No such file"),
        ("--criteria-file", "[{", "not JSON"),
        ("--criteria-file", '{"key": "k"}', "expected a list, got an object"),
        ("--criteria-file", '[{"key": "k", "name": "Key"}]', "criteria[0]: missing fields"),
        ("--criteria-file", '["k"]', "criteria[0]: expected a Criterion"),
        ("--payload-file", None, "No such file"),
        ("--payload-file", b"\xff{}", "not UTF-8"),
        ("--payload-file", "{'query': 'q'}", "not JSON"),
        ("--payload-file", "[]", "expected an object, got a list"),
        ("--payload-file", '{"query": "q", "size": 5}', "unknown fields ['size']"),
        ("--payload-file", '{"desired_num_results": 5}', "no query"),
        ("--payload-file", '{"query": "q", "desired_num_results": "ten"}',
         "desired_num_results"),
        ("--payload-file", '{"query": "q", "table": {"id": "t", "colour": "red"}}', "table"),
        ("--payload-file", '{"query": "q", "criteria": [{"key": "1k", "name": "N",'
                           ' "criterion": "The company does something."}]}', "criteria[0].key"),
    ],
)
def test_bad_files_are_named_before_anything_is_sent(
    option: str, content: str | bytes | None, problem: str, tmp_path: Path, fake: ThreadedFake,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "input.json"
    if content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    argv = ["search", *(["q"] if option == "--criteria-file" else []), option, str(path)]
    line = no_request_but(argv, fake, monkeypatch, capsys)
    assert line.startswith(f"error: {option} {path}: ") or (
        problem == "no query" and "no query" in line), line
    assert problem in line


def test_no_arguments_print_the_help_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # stdout stays for data, even here
    assert err.startswith("usage: extruct-async")
    for command in ("search", "tasks", "demo", "fake-server"):
        assert f"    {command} " in err
    assert "exit status:" in err
    assert main(["tasks"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("usage: extruct-async tasks")
    for command in ("list", "get", "wait", "results", "resume"):
        assert f"    {command} " in err


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("--exclude-domain", "localhost"),
         "--exclude-domain: 'localhost' is not a domain or a URL with one"),
        (("--exclude-domain", "acme.com", "--exclude-domain", "not a domain"),
         "--exclude-domain #2: 'not a domain' is not a domain or a URL with one"),
        (("--exclude-task", "t1", "--exclude-task", " "),
         "--exclude-task #2: must not be empty"),
        (("--criterion", "bad key:Name:The company does something."),
         "--criterion: key: "),
        (("--table", "t", "--table-run", "--table-column", "c1", "--table-column", " "),
         "--table-column #2: must not be empty"),
        (("--table", " "), "--table: id: must not be empty"),
    ],
)
def test_the_sdks_complaint_names_the_option_the_user_typed(
    args: tuple[str, ...], line: str, fake: ThreadedFake, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The SDK checks every create argument; the CLI only says which option it came from.
    error = no_request_but(["search", "q", *args], fake, monkeypatch, capsys)
    assert error.startswith(f"error: {line}"), error
    assert "exclude_domains" not in error  # the API's field, which the user never typed
    assert "exclude_task_ids" not in error


def test_a_bad_domain_in_a_payload_file_is_named_where_it_sits(
    tmp_path: Path, fake: ThreadedFake, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "body.json"
    path.write_text('{"query": "q", "exclude_domains": ["acme.com", "localhost"]}', "utf-8")
    error = no_request_but(["search", "--payload-file", str(path)], fake, monkeypatch, capsys)
    assert error == (f"error: --payload-file {path}: exclude_domains[1]: 'localhost' is not a"
                     " domain or a URL with one\n")
