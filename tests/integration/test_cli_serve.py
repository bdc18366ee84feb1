"""``cti serve`` as a real process: a bad configuration stops it clearly; a good one serves."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp

from tests.support.serve import wait_for_url

ROOT = Path(__file__).parents[2]


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
    env.update(extra)
    return env


async def _cti(*argv: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cti.cli",
        *argv,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_serve_with_a_bad_config_names_the_key_and_exits(tmp_path: Path) -> None:
    config = tmp_path / "cti.toml"
    config.write_text("[server]\nport = 99999\n[phone]\ndefault_region = 'Mars'\n")
    process = await _cti("--config", str(config), "serve", env=_environment())
    _out, err = await process.communicate()
    assert process.returncode == 2
    message = err.decode()
    assert message.startswith(f"cti: invalid configuration in {config}")
    assert "server.port: Input should be less than or equal to 65535" in message
    assert "phone.default_region: " in message
    assert "Traceback" not in message


async def test_serve_with_a_bad_environment_value(tmp_path: Path) -> None:
    process = await _cti("serve", env=_environment(CTI_LOG_LEVEL="LOUD"))
    _out, err = await process.communicate()
    assert process.returncode == 2
    assert "logging.level" in err.decode()


async def test_serve_answers_health_and_api(database_url: str) -> None:
    process = await _cti(
        "serve",
        "--port",
        "0",
        env=_environment(
            CTI_DATABASE_URL=database_url, CTI_LOG_LEVEL="INFO", CTI_LOG_FORMAT="json"
        ),
    )
    assert process.stderr is not None
    log = bytearray()
    reading = asyncio.create_task(_drain(process.stderr, log))
    try:
        base = await wait_for_url(process, lambda: log.decode(errors="replace"))
        assert base.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            for _attempt in range(150):
                try:
                    async with http.get(f"{base}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("cti serve did not come up")
            async with http.get(f"{base}/readyz") as ready:
                assert ready.status == 200
                assert (await ready.json())["database"] == "ok"
            async with http.get(f"{base}/api/openapi.json") as document:
                assert (await document.json())["openapi"] == "3.1.0"
            async with http.get(f"{base}/api/v1/users") as anonymous:
                assert anonymous.status == 401
                assert anonymous.headers["Content-Type"].startswith("application/problem+json")
    finally:
        process.terminate()
        await process.wait()
        await reading


async def _drain(stream: asyncio.StreamReader, into: bytearray) -> None:
    while chunk := await stream.read(65536):
        into.extend(chunk)


async def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    process = await _cti("serve", env=_environment(CTI_DATABASE_URL=url))
    _out, err = await process.communicate()
    assert process.returncode == 2
    message = err.decode()
    assert "is at revision (none)" in message
    assert "run `cti migrate` first" in message
    assert "Traceback" not in message
