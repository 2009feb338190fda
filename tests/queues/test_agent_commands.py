"""`callcenter agents add | list | state | set-password | sign-out` through the real CLI group,
on a migrated SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from redis import Redis
from sqlalchemy.orm import Session

from callcenter.cli import _register, cli
from core.db import make_engine
from queues.models import AgentEvent, AgentState
from queues.passwords import authenticate

_register()


def run(tmp_path: Path, *args: str, input: str | None = None) -> tuple[int, str]:  # noqa: A002
    environ = {"CALLCENTER_INSTANCE_PATH": str(tmp_path / "instance")}
    result = CliRunner().invoke(cli, list(args), env=environ, input=input, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def instance(tmp_path: Path, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A migrated instance whose commands reach the test Redis (as a running stack's would)."""
    monkeypatch.setenv("CALLCENTER_REDIS_URL", redis_url(redis))
    assert run(tmp_path, "db", "upgrade")[0] == 0
    return tmp_path


def redis_url(conn: Redis) -> str:
    kwargs = conn.connection_pool.connection_kwargs
    db = kwargs.get("db", 0)
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={db}"
    return f"redis://{kwargs['host']}:{kwargs['port']}/{db}"


def db_session(tmp_path: Path) -> Session:
    return Session(make_engine(f"sqlite:///{tmp_path / 'instance' / 'callcenter.db'}"))


ADD_LI_NA = (
    "agents",
    "add",
    "li.na",
    "--name",
    "李娜",
    "--post",
    "front_desk",
    "--post",
    "back_office",
    "--skill",
    "general:4",
    "--skill",
    "presales:2",
    "--language",
    "zh",
    "--language",
    "en",
    "--team",
    "front-a",
    "--phone",
    "139 0013 9001",
    "--password-stdin",
)


def test_add_then_list_then_log_in(instance: Path) -> None:
    code, out = run(instance, *ADD_LI_NA, input="correct horse\n")
    assert code == 0 and out.startswith("agent li.na created (id ")
    code, out = run(instance, "agents", "list")
    (line,) = out.splitlines()
    assert code == 0 and line.split()[:3] == ["li.na", "李娜", "offline"]
    assert "back_office+front_desk" in line and "general:4,presales:2" in line
    assert line.rstrip().endswith("en,zh  front-a")
    with db_session(instance) as s:
        agent = authenticate(s, "li.na", "correct horse")
        assert agent is not None and agent.phone_e164 == "+8613900139001"


def test_state_changes_as_supervisor_and_repeats_harmlessly(instance: Path) -> None:
    run(instance, *ADD_LI_NA, input="pw\n")
    assert run(instance, "agents", "state", "li.na", "available") == (
        0,
        "li.na: offline → available\n",
    )
    assert run(instance, "agents", "state", "li.na", "break", "--reason", "lunch") == (
        0,
        "li.na: available → break (lunch)\n",
    )
    assert run(instance, "agents", "state", "li.na", "break", "--reason", "lunch") == (
        0,
        "li.na is already break; nothing changed\n",
    )
    with db_session(instance) as s:
        logged = [(e.to_state, e.actor, e.reason) for e in s.query(AgentEvent).order_by("id")]
    assert logged == [
        (AgentState.OFFLINE, "supervisor", "created"),
        (AgentState.AVAILABLE, "supervisor", None),
        (AgentState.BREAK, "supervisor", "lunch"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("on_call",), "Error: transition-not-allowed: an agent cannot go from offline to on_call"),
        (("break", "--reason", "nap"), "Error: invalid-reason: break needs a reason from: missed,"),
        (("break", "--reason", "missed"), "Error: invalid-reason: break reason 'missed' is set"),
    ],
)
def test_refused_state_change_names_its_code(
    instance: Path, args: tuple[str, ...], message: str
) -> None:
    run(instance, *ADD_LI_NA, input="pw\n")
    code, out = run(instance, "agents", "state", "li.na", *args)
    assert code == 1 and out.startswith(message)


def test_state_without_a_running_stack_says_so_and_changes_nothing(
    instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(instance, *ADD_LI_NA, input="pw\n")
    monkeypatch.delenv("CALLCENTER_REDIS_URL")  # the embedded Redis, which no stack serves

    code, out = run(instance, "agents", "state", "li.na", "available")

    socket_path = instance / "instance" / "redis.sock"
    assert code == 1
    assert out.startswith("Error: no `callcenter run` is serving this instance's embedded Redis")
    assert f"({socket_path} does not answer)" in out and "nothing was changed" in out
    assert not socket_path.exists()  # and no Redis of its own was started there
    with db_session(instance) as s:
        assert [e.to_state for e in s.query(AgentEvent)] == [AgentState.OFFLINE]


def test_state_of_an_unknown_agent(instance: Path) -> None:
    code, out = run(instance, "agents", "state", "nobody", "available")
    assert code == 1 and "agent-not-found: no agent 'nobody'" in out


def test_add_refuses_unknown_skill_bad_level_and_taken_login(instance: Path) -> None:
    base = ("agents", "add", "wang", "--name", "王", "--post", "front_desk", "--language", "zh")
    code, out = run(instance, *base, "--skill", "generl:3")
    assert code == 1 and "invalid-agent: no queue needs skill 'generl'" in out
    code, out = run(instance, *base, "--skill", "general")
    assert code == 2 and "expected SKILL:LEVEL" in out
    code, out = run(instance, *base, "--skill", "general:9")
    assert code == 1 and "levels are 1-5" in out
    assert run(instance, *base)[0] == 0
    code, out = run(instance, *base)
    assert code == 1 and "agent-exists" in out


def test_add_refuses_an_empty_password_on_stdin(instance: Path) -> None:
    code, out = run(instance, *ADD_LI_NA, input="\n")
    assert code == 1 and "no password on standard input" in out


def test_list_without_agents(instance: Path) -> None:
    assert run(instance, "agents", "list") == (
        0,
        "no agents (add one with `callcenter agents add`)\n",
    )


def test_set_password_and_sign_out_move_the_session_epoch(instance: Path) -> None:
    run(instance, *ADD_LI_NA, input="correct horse\n")
    code, out = run(instance, "agents", "set-password", "li.na", input="new battery\n")
    assert code == 0 and "every session of theirs has ended" in out
    code, out = run(instance, "agents", "sign-out", "li.na")
    assert code == 0 and out == "every session of li.na has ended\n"
    with db_session(instance) as s:
        assert authenticate(s, "li.na", "correct horse") is None
        agent = authenticate(s, "li.na", "new battery")
        assert agent is not None and agent.session_epoch == 2


def test_set_password_refuses_an_unknown_agent_or_no_password(instance: Path) -> None:
    code, out = run(instance, "agents", "set-password", "nobody", input="x\n")
    assert code == 1 and "no agent with the login 'nobody'" in out
    run(instance, *ADD_LI_NA, input="correct horse\n")
    code, out = run(instance, "agents", "set-password", "li.na", input="\n")
    assert code == 1 and "no password on standard input" in out
