"""Failures end as one ``error:`` line and the exit status of their kind, never a traceback."""

from __future__ import annotations

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
        ("tasks",),
        ("tasks", "wait"),
        ("demo", "--tasks", "99"),
        ("fake-server", "--port", "many"),
        ("fake-server", "--bogus"),
        (),
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
