"""The ``cti`` command: serve, migrate, demo, users and tokens, call replays, the PBX simulator,
imports."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from crmlite.domain.token_scopes import TOKEN_SCOPES
from cti.settings import ConfigError

_DESCRIPTION = """\
Telephony-first CTI service for Asterisk with a lightweight CRM.

Every command reads the configuration from --config FILE (or CTI_CONFIG) and CTI_* environment
variables; CTI_DATABASE_URL chooses the database (default: sqlite+aiosqlite:///./cti.db).
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cti", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="run the service: HTTP API, browser app, websocket pops, AMI consumers"
    )
    serve.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help="TOML configuration file"
    )
    serve.add_argument("--host", help="address to listen on (default from config: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default from config: 8080)")
    serve.set_defaults(module="cti.commands.serve")

    migrate = commands.add_parser("migrate", help="create or upgrade the database schema")
    migrate.add_argument("--revision", default="head", help="target revision (default: head)")
    migrate.set_defaults(module="cti.commands.migrate")

    demo = commands.add_parser(
        "demo",
        help="migrate, seed demo users, pipelines and deals, start the PBX simulator and serve",
    )
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    demo.add_argument(
        "--calls-per-minute",
        type=float,
        default=6.0,
        help="how often the simulated PBX rings (default: 6 a minute)",
    )
    demo.set_defaults(module="cti.commands.demo")

    user = commands.add_parser("user", help="manage users: add, list, passwd")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_commands.add_parser("add", help="add a user (password read from stdin)")
    add.add_argument("login")
    add.add_argument("--role", required=True, choices=["seller", "head", "admin"])
    add.add_argument("--name", help="display name (default: the login)")
    add.add_argument(
        "--extension",
        action="append",
        default=[],
        metavar="EXT",
        help="extension number of the user's phone; repeat for several",
    )
    add.add_argument(
        "--interface",
        action="append",
        default=[],
        metavar="IFACE",
        help="AMI interface or queue member such as PJSIP/101 or Local/101@from-queue/n",
    )
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    user_commands.add_parser("list", help="list users with their roles and extensions")
    passwd = user_commands.add_parser("passwd", help="set a user's password (read from stdin)")
    passwd.add_argument("login")
    user.set_defaults(module="cti.commands.users")

    token = commands.add_parser("token", help="API tokens for scripts and integrations")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_commands.add_parser("create", help="print a new bearer token for LOGIN")
    create.add_argument("login")
    create.add_argument("--name", default="cli", help="what the token is for")
    create.add_argument(
        "--scope",
        choices=sorted(TOKEN_SCOPES),
        default=None,
        help="narrow the token to one job (route-lookup: the PBX dialplan's caller routing only)",
    )
    create.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="accept the token only from this address or CIDR network (repeatable)",
    )
    token.set_defaults(module="cti.commands.tokens")

    calls = commands.add_parser("calls", help="inspect calls")
    call_commands = calls.add_subparsers(dest="calls_command", required=True, metavar="ACTION")
    replay = call_commands.add_parser(
        "replay", help="print what the product makes of a raw AMI capture, one JSON call a line"
    )
    replay.add_argument("file", metavar="FILE.ami")
    replay.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help="TOML configuration file"
    )
    calls.set_defaults(module="cti.commands.replay")

    sim = commands.add_parser("sim", help="run the PBX simulator (an AMI server) standalone")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=5039)
    sim.add_argument("--calls-per-minute", type=float, default=6.0)
    sim.add_argument("--replay", metavar="FILE.ami", help="serve this capture instead")
    sim.add_argument(
        "--office",
        action="append",
        default=[],
        metavar="NAME",
        help="one simulated PBX per office, on --port, --port+1, ... (repeat: --office east"
        " --office west), each numbered from 101 with NAME as its systemname",
    )
    sim.set_defaults(module="cti.commands.sim")

    importer = commands.add_parser(
        "import",
        help="import contacts or deals (row report, resumable) or a price list from a CSV file",
    )
    importer.add_argument("kind", choices=["contacts", "deals", "products"])
    importer.add_argument(
        "file",
        metavar="FILE",
        help="CSV with , ; or tab; UTF-8 (BOM or not), Windows-1251, GB18030",
    )
    importer.add_argument("--dry-run", action="store_true", help="check every row, change nothing")
    importer.add_argument(
        "--merge",
        action="store_true",
        help="merge likely duplicates into the contact they resemble instead of skipping them",
    )
    importer.add_argument("--owner", metavar="LOGIN", help="owner of rows that name none")
    importer.add_argument(
        "--batch", type=int, default=500, metavar="N", help="rows per transaction (default 500)"
    )
    importer.add_argument(
        "--report", metavar="FILE.csv", help="write the row report here instead of stdout"
    )
    importer.add_argument(
        "--delimiter", choices=[",", ";", "\t", "|"], help="override the detected delimiter"
    )
    importer.add_argument(
        "--currency", default="RUB", help="products: the currency of rows that name none"
    )
    importer.set_defaults(module="cti.commands.imports")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cti`` console script."""
    args = _parser().parse_args(argv)
    command = importlib.import_module(args.module)
    try:
        result: int = command.run(args)
    except ConfigError as err:
        print(f"cti: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
