"""The API keeps its OpenAPI contract under schemathesis: every operation, as an admin and a seller.

The whole service (the ``api`` fixture: ``cti.app.create_app`` on a real socket over a fresh
migrated database) is fuzzed by the schemathesis CLI, run exactly as a user would run it against
``/api/openapi.json``, with every check on plus this API's own (tests/fuzz/checks.py: errors are
problem+json; a request valid by the document never fails schema validation). Its phases:
examples, coverage (each constraint's edges and one step past them), fuzzing (positive and
negative) and stateful sequences over the links schemathesis infers (create, then read, move and
delete what was created). Deterministic (``generation.deterministic``, a fixed seed, no example
database) and bounded (``FUZZ_EXAMPLES`` per operation), so a failure reproduces and the run
stays within a few minutes on a small machine. Any failure of any check fails the test, which
prints schemathesis' report (each failure with a curl line to replay it).

SQLite only: the contract is the web layer's (schemas, statuses, problem bodies, the mapping of
database errors), which does not change with the backend, and the fuzz run on both would double
the budget. What differs by backend (integer widths, unique-violation messages) is held by the
bounds in crmlite/web/schemas.py (``INT32_MAX`` where a column is PostgreSQL INTEGER) and by
tests/integration/test_api_contract.py, which runs on both.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from crmlite.services import auth as auth_service
from tests.conftest import DatabaseTemplates
from tests.support.api import ApiHarness

ROOT = Path(__file__).resolve().parents[2]
CONFIG_TEMPLATE = ROOT / "tests" / "fuzz" / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
FUZZ_EXAMPLES = int(os.environ.get("CTI_FUZZ_EXAMPLES", "4"))
FUZZ_SEED = 20261202


@pytest.fixture
async def database_url(db_templates: DatabaseTemplates) -> str:
    """Fuzz on SQLite only (see the module docstring): overrides the two-backend fixture."""
    return await db_templates.sqlite_copy()


async def _token(api: ApiHarness, user_id: int) -> tuple[int, str]:
    async with api.sessions.begin() as db:
        issued = await auth_service.create_api_token(db, user_id, "fuzz")
    return issued.view.id, issued.token


def _config(tmp_path: Path, *, pinned: dict[str, dict[str, int]]) -> Path:
    """The shared configuration plus the ids the caller must not lose (its own token, itself)."""
    text = CONFIG_TEMPLATE.read_text()
    for operation_id, parameters in pinned.items():
        values = ", ".join(f'"{name}" = {value}' for name, value in parameters.items())
        text += f'\n[[operations]]\ninclude-operation-id = "{operation_id}"\n'
        text += f"parameters = {{ {values} }}\n"
    path = tmp_path / "schemathesis.toml"
    path.write_text(text)
    return path


async def _fuzz(
    api: ApiHarness, token: str, config: Path, report: Path, phases: str
) -> tuple[int, str]:
    """Run the schemathesis CLI against the running service; the event loop keeps serving."""
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        api.url("/api/openapi.json"),
        "--checks",
        "all",
        # Tests never hold the service to wall-clock time (a shared CI machine is no benchmark):
        # only a request stuck for minutes fails, as a hang, not as slowness.
        "--max-response-time",
        "120",
        "--request-timeout",
        "120",
        "--phases",
        phases,
        # The dialplan lookup answers text/plain for Asterisk's CURL() (an empty 404 for an
        # unknown caller), which its declaration does not describe yet (the routing work's).
        "--exclude-operation-id",
        "route_caller",
        "--seed",
        str(FUZZ_SEED),
        "--max-examples",
        str(FUZZ_EXAMPLES),
        "--header",
        f"Authorization: Bearer {token}",
        "--report",
        "junit",
        "--report-dir",
        str(report),
        cwd=report.parent,  # schemathesis keeps a cache in its working directory
        env={**os.environ, "PYTHONPATH": str(ROOT), "SCHEMATHESIS_HOOKS": "tests.fuzz.checks"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace")


@pytest.mark.timeout(900)
async def test_every_operation_keeps_its_contract(api: ApiHarness, tmp_path: Path) -> None:
    """Seller first, then admin (who may disable or demote users): zero failures of any check."""
    seller = await api.create_user("seller", login="fuzz-seller", identities=[("extension", "101")])
    admin = await api.create_user("admin", login="fuzz-admin")
    spare = await api.create_user("seller", login="fuzz-victim")
    # The run may revoke tokens and disable users: it gets a spare of each to do it to.
    _, seller_token = await _token(api, seller.id)
    seller_spare, _ = await _token(api, seller.id)
    _, admin_token = await _token(api, admin.id)
    admin_spare, _ = await _token(api, admin.id)

    failures = []
    # The coverage phase (every constraint's edges) is the long one and the same for both roles:
    # the admin, who reaches every operation, runs it; the seller fuzzes and walks the links.
    for role, token, spare_token, phases in (
        ("seller", seller_token, seller_spare, "examples,fuzzing,stateful"),
        ("admin", admin_token, admin_spare, "examples,coverage,fuzzing,stateful"),
    ):
        pinned = {
            "revoke_token": {"id": spare_token},
            "update_user": {"id": spare.id},
            "set_identities": {"id": spare.id},
            "create_user_token": {"id": spare.id},
        }
        (tmp_path / role).mkdir()
        config = _config(tmp_path / role, pinned=pinned)
        code, output = await _fuzz(api, token, config, tmp_path / role / "report", phases)
        if code != 0:
            failures.append(f"--- schemathesis as {role} (exit {code}) ---\n{output}")
    assert not failures, "\n".join(failures)
