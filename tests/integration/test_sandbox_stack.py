"""`python -m sandbox up` as a new user meets it: every command reaches the same stack.

One stack for the module, started through the real command line on free ports (never
the defaults, so nothing here can touch a developer's stack or be answered by it),
with a client secret that starts with `-`; its teardown checks that `down` stops the
three simulators and the cluster and frees their ports. The project's own `profiles.yml` is never
written: the rule "the project's default stack refreshes the project's profile" is
checked on a copy of the project (`SandboxStack(project_dir=...)`), and `dbt debug`
runs there as a plain `dbt debug`, no variable exported.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from sandbox.stack import (
    PROFILE_EXAMPLE,
    PROFILE_NAME,
    SIMULATORS,
    SandboxStack,
    free_port,
    new_client_secret,
    read_env_file,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DASH_SECRET = "-starts-with-a-dash_and-is-otherwise-fine"
# What could point a command elsewhere than the stack under test.
_FOREIGN = (
    "PG", "SANDBOX_", "DBT_", "SALESFORCE_", "PROPERTYWARE_", "SERVICEFUSION_",
    "RDS_DATABASE_URL", "DISPATCH_DATABASE_URL", "SUPABASE_DATABASE_URL", "REQUESTS_CA_BUNDLE",
)
PORT_VARIABLES = ("SANDBOX_PG_PORT", *(spec.port_variable for spec in SIMULATORS))
# A SOAP call the WSDL names; the credentials are checked before the envelope is read.
_GET_ALL_PORTFOLIOS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    '<soapenv:Body><ns1:getAllPortfolios soapenv:encodingStyle='
    '"http://schemas.xmlsoap.org/soap/encoding/" '
    'xmlns:ns1="http://service.web.propertyware.realpage.com"/></soapenv:Body>'
    "</soapenv:Envelope>"
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(_FOREIGN)}
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return {**env, **extra}


def free_ports() -> dict[str, str]:
    """A free port for every part of the stack, by its SANDBOX_*_PORT variable."""
    return {variable: str(free_port()) for variable in PORT_VARIABLES}


def port_taken(port: int) -> bool:
    """Whether something still holds `port` (the bind test `up` itself makes)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def sandbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120,
    )


@dataclass
class Running:
    base: Path
    env: dict[str, str]  # what the commands ran with: SANDBOX_* only
    stack_env: dict[str, str]  # what `up` wrote to sandbox.env
    up_output: str


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    # Not under pytest's tmp_path: each new pytest session (anyone's) resets
    # /tmp/pytest-of-<user> to 0700, and as root the cluster runs as `postgres`, which
    # must reach its folder for as long as the stack runs.
    base = Path(tempfile.mkdtemp(prefix="propsync-stack-test-"))
    env = clean_env(SANDBOX_DIR=str(base), **free_ports())
    # The credentials a fresh clone gets about once in 64 with token_urlsafe: the
    # simulator must start with them all the same.
    credentials = base / "salesforce.credentials"
    credentials.write_text(f"sandbox-client-test\n{DASH_SECRET}\n")
    credentials.chmod(0o600)
    try:
        up = sandbox(env, "up")
        assert up.returncode == 0, up.stdout + up.stderr
        yield Running(base, env, read_env_file(base / "sandbox.env"), up.stdout)
    finally:
        down = sandbox(env, "down")
        pid_files = [spec.name for spec in SIMULATORS if (base / f"{spec.name}.pid").exists()]
        shutil.rmtree(base, ignore_errors=True)
        assert down.returncode == 0, down.stdout + down.stderr
    # `down` stopped every part: each port is free again, no pid file is left.
    assert [v for v in PORT_VARIABLES if port_taken(int(env[v]))] == []
    assert pid_files == []


def project_copy(tmp_path: Path) -> Path:
    """A project folder dbt accepts: the real dbt_project.yml and profile example."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("dbt_project.yml", PROFILE_EXAMPLE):
        shutil.copy(ROOT / name, project / name)
    return project


def dbt_debug(project: Path, **extra: str) -> str:
    result = subprocess.run(
        [str(BIN / "dbt"), "debug"], cwd=project, env=clean_env(**extra),
        capture_output=True, text=True, check=False, timeout=120,
    )
    return result.stdout + result.stderr


# -- the client secret ---------------------------------------------------------


def test_secret_starting_with_a_dash_gets_a_token(running: Running) -> None:
    assert running.stack_env["SALESFORCE_CLIENT_SECRET"] == DASH_SECRET
    response = requests.post(
        f"{running.stack_env['SALESFORCE_INSTANCE_URL']}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": running.stack_env["SALESFORCE_CLIENT_ID"],
            "client_secret": DASH_SECRET,
        },
        verify=running.stack_env["REQUESTS_CA_BUNDLE"], timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["access_token"]


@pytest.mark.parametrize("name", [spec.name for spec in SIMULATORS])
def test_secret_is_not_on_the_simulators_command_line(running: Running, name: str) -> None:
    cmdline = Path(f"/proc/{(running.base / f'{name}.pid').read_text().strip()}/cmdline")
    if not cmdline.exists():
        pytest.skip("no /proc to read a command line from")
    secret = (running.base / f"{name}.credentials").read_text().splitlines()[1]
    assert secret not in cmdline.read_bytes().decode(errors="replace")


# -- the other simulators --------------------------------------------------------


def test_propertyware_serves_its_wsdl_to_the_api_user(running: Running) -> None:
    env = running.stack_env
    port = running.env["SANDBOX_PROPERTYWARE_PORT"]
    assert env["PROPERTYWARE_WSDL_URL"] == (
        f"https://127.0.0.1:{port}/pw/services/PWServices?wsdl"
    )
    auth = (env["PROPERTYWARE_USERNAME"], env["PROPERTYWARE_PASSWORD"])
    wsdl = requests.get(
        env["PROPERTYWARE_WSDL_URL"], auth=auth, verify=env["REQUESTS_CA_BUNDLE"], timeout=10
    )
    assert wsdl.status_code == 200, wsdl.text
    assert f'location="https://127.0.0.1:{port}/pw/services/PWServices"' in wsdl.text
    schema = requests.get(
        f"https://127.0.0.1:{port}/pw/schemas/soap-encoding.xsd",
        verify=env["REQUESTS_CA_BUNDLE"], timeout=10,
    )
    assert schema.status_code == 200, schema.text
    assert "schema" in schema.text


def test_propertyware_refuses_wrong_credentials(running: Running) -> None:
    env = running.stack_env
    response = requests.post(
        env["PROPERTYWARE_WSDL_URL"].removesuffix("?wsdl"),
        data=_GET_ALL_PORTFOLIOS.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        auth=(env["PROPERTYWARE_USERNAME"], env["PROPERTYWARE_PASSWORD"] + "-wrong"),
        verify=env["REQUESTS_CA_BUNDLE"], timeout=10,
    )
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_servicefusion_gives_a_token_for_the_stack_credentials(running: Running) -> None:
    env = running.stack_env
    base = env["SERVICEFUSION_BASE_URL"]
    assert base == f"https://127.0.0.1:{running.env['SANDBOX_SERVICEFUSION_PORT']}"
    token = requests.post(
        f"{base}/oauth/access_token",
        data={
            "grant_type": "client_credentials",
            "client_id": env["SERVICEFUSION_CLIENT_ID"],
            "client_secret": env["SERVICEFUSION_CLIENT_SECRET"],
        },
        verify=env["REQUESTS_CA_BUNDLE"], timeout=10,
    )
    assert token.status_code == 200, token.text
    me = requests.get(
        f"{base}/v1/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        verify=env["REQUESTS_CA_BUNDLE"], timeout=10,
    )
    assert me.status_code == 200, me.text
    assert me.json()["id"]


def test_status_lists_every_part(running: Running) -> None:
    result = sandbox(running.env, "status")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("postgres", *(spec.name for spec in SIMULATORS)):
        assert re.search(rf"\b{name}\b.*\byes\b", result.stdout), result.stdout


def test_generated_secrets_never_start_with_a_dash() -> None:
    assert not [s for s in (new_client_secret() for _ in range(5000)) if s.startswith("-")]


# -- dbt reaches the stack ------------------------------------------------------


def test_plain_dbt_reaches_the_stack_not_the_default_port(
    running: Running, tmp_path: Path
) -> None:
    project = project_copy(tmp_path)
    port = running.stack_env["PGPORT"]
    assert port != "54329"
    # The project's default stack is `<project>/.local`; its profile step, given the
    # running stack's values, is what `python -m sandbox up` does in a real checkout.
    SandboxStack(project / ".local", project_dir=project).write_profiles(running.stack_env)

    output = dbt_debug(project)  # nothing exported, profile from the project folder
    assert f"port: {port}" in output, output
    assert "port: 54329" not in output, output
    assert "All checks passed" in output, output

    # A user's own variables still win over the generated defaults.
    other = str(free_port())
    assert f"port: {other}" in dbt_debug(project, PGPORT=other)


def test_up_in_another_folder_writes_its_own_profile_only(running: Running) -> None:
    profile = running.base / PROFILE_NAME
    assert f"env_var('PGPORT', '{running.stack_env['PGPORT']}')" in profile.read_text()
    assert f"dbt profile {profile}" in running.up_output
    assert f"DBT_PROFILES_DIR={running.base}" in running.up_output


def test_other_stacks_leave_the_project_profile_alone(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    ours = SandboxStack(project / ".local", pg_port=55001, project_dir=project)
    ours.write_profiles({})
    before = (project / PROFILE_NAME).read_text()
    assert "env_var('PGPORT', '55001')" in before

    # A test's or a benchmark's stack beside it: its own file, not the project's.
    theirs = SandboxStack(tmp_path / "elsewhere", pg_port=55002, project_dir=project)
    theirs.write_profiles({})
    assert (project / PROFILE_NAME).read_text() == before
    assert "env_var('PGPORT', '55002')" in (tmp_path / "elsewhere" / PROFILE_NAME).read_text()


def test_generated_profile_follows_the_stack_until_edited(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    profile = project / PROFILE_NAME
    # A verbatim copy of the example (what `make install` used to do) is ours.
    shutil.copy(project / PROFILE_EXAMPLE, profile)
    stack = SandboxStack(project / ".local", pg_port=55003, project_dir=project)
    stack.write_profiles({})
    assert "env_var('PGPORT', '55003')" in profile.read_text()
    assert not stack.notes

    # Unchanged, it follows the stack to another port.
    SandboxStack(project / ".local", pg_port=55004, project_dir=project).write_profiles({})
    assert "env_var('PGPORT', '55004')" in profile.read_text()

    # Edited (even only a default), it is the user's: left alone, with one line.
    edited = profile.read_text().replace("'55004'", "'5432'")
    profile.write_text(edited)
    stack = SandboxStack(project / ".local", pg_port=55005, project_dir=project)
    stack.write_profiles({})
    assert profile.read_text() == edited
    assert len(stack.notes) == 1
    assert "left alone" in stack.notes[0]
    assert str(project / ".local" / "sandbox.env") in stack.notes[0]


def test_profile_command_uses_the_configured_port_before_the_first_up(tmp_path: Path) -> None:
    port = str(free_port())
    result = sandbox(clean_env(SANDBOX_DIR=str(tmp_path), SANDBOX_PG_PORT=port), "profile")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"env_var('PGPORT', '{port}')" in (tmp_path / PROFILE_NAME).read_text()


# -- ports ----------------------------------------------------------------------


def test_running_stack_keeps_its_port(running: Running) -> None:
    again = sandbox({**running.env, "SANDBOX_PG_PORT": str(free_port())}, "up")
    assert again.returncode == 0, again.stdout + again.stderr
    port = running.stack_env["PGPORT"]
    assert f"already runs on port {port}" in again.stdout
    assert read_env_file(running.base / "sandbox.env")["PGPORT"] == port


@pytest.mark.parametrize(
    ("variable", "log"),
    [
        ("SANDBOX_PG_PORT", "postgres/postgres.log"),
        *((spec.port_variable, f"{spec.name}.log") for spec in SIMULATORS),
    ],
)
def test_port_taken_by_another_program(tmp_path: Path, variable: str, log: str) -> None:
    ports = free_ports()
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", 0))
        other_program.listen()
        taken = str(other_program.getsockname()[1])
        env = clean_env(SANDBOX_DIR=str(tmp_path), **{**ports, variable: taken})
        try:
            result = sandbox(env, "up")
        finally:
            sandbox(env, "down")
    assert result.returncode == 3, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert re.search(rf"\bport {taken}\b", lines[0])
    assert variable in lines[0]
    assert str(tmp_path / log) in lines[0]
    # Refused before anything started: no cluster was created for a stack that cannot run.
    assert not (tmp_path / "postgres" / "data").exists()


def test_make_down_stops_the_stack() -> None:
    if shutil.which("make") is None:
        pytest.skip("no make")
    plan = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "down"], capture_output=True, text=True, check=False
    )
    assert plan.returncode == 0, plan.stderr
    assert "-m sandbox down" in plan.stdout
