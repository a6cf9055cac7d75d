"""The `veil` command: up, run SERVICE, status, sql, audit verify, compliance report,
categorizer train."""

import argparse
import asyncio
import sys
from pathlib import Path

from veil.schemas.subjects import SERVICES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="veil", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run NATS, the five services and the simulator")
    up.add_argument("--host", default=None, help="gateway host (default 127.0.0.1)")
    up.add_argument("--port", type=int, default=None, help="gateway port (default 8080)")
    up.add_argument("--data-dir", type=Path, default=None, help="default .veil")
    up.add_argument("--catalog", type=Path, default=None, help="catalog YAML file")
    up.add_argument("--upstreams", choices=["simulated", "live"], default=None)
    up.add_argument(
        "--nats",
        choices=["embedded", "external"],
        default="embedded",
        help="start nats-server (default) or use the one at VEIL_NATS_URL",
    )

    run = commands.add_parser("run", help="run one service against VEIL_NATS_URL")
    run.add_argument("service", choices=SERVICES)

    categorizer = commands.add_parser("categorizer", help="the categorizer's local classifier")
    categorizer_commands = categorizer.add_subparsers(dest="action", required=True)
    train = categorizer_commands.add_parser(
        "train", help="train on the shipped corpus, report held-out accuracy, write the model"
    )
    train.add_argument("--output", type=Path, default=None, help="default: the shipped model")

    status = commands.add_parser(
        "status", help="every service's replicas, health and version, and consumer lag"
    )
    status.add_argument("--format", choices=["table", "json"], default="table")
    status.add_argument(
        "--wait", type=float, default=0.5, help="seconds to wait for replicas to answer"
    )

    sql = commands.add_parser("sql", help="read-only SQL on the metrics store")
    sql.add_argument("query")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")

    audit = commands.add_parser("audit", help="the audit trail")
    audit_commands = audit.add_subparsers(dest="action", required=True)
    verify = audit_commands.add_parser(
        "verify", help="walk every account's audit chain; exit 1 at the first break"
    )
    verify.add_argument("--account", default=None, help="only this account's chain")
    verify.add_argument("--format", choices=["text", "json"], default="text")

    compliance = commands.add_parser("compliance", help="compliance reports")
    compliance_commands = compliance.add_subparsers(dest="action", required=True)
    report = compliance_commands.add_parser(
        "report", help="an account's compliance report as JSON; exit 1 if it finds violations"
    )
    report.add_argument("--account", required=True)
    report.add_argument("--from", dest="since", default=None, help="default: 30 days before --to")
    report.add_argument("--to", dest="until", default=None, help="default: now")
    report.add_argument("--output", type=Path, default=None, help="default: standard output")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "up":
        from veil.launcher.up import up

        sys.exit(up(args))
    if args.command == "run":
        from veil.launcher.runner import run_service

        run_service(args.service)
        return
    if args.command == "categorizer":
        from veil.categorizer.train import main as train

        sys.exit(train(args.output) if args.output else train())
    if args.command == "status":
        from veil.launcher.status import run_status

        sys.exit(asyncio.run(run_status(args.format, args.wait)))
    if args.command == "audit":
        from veil.launcher.auditcli import verify

        sys.exit(asyncio.run(verify(args.account, args.format)))
    if args.command == "compliance":
        from veil.launcher.auditcli import report

        sys.exit(asyncio.run(report(args.account, args.since, args.until, args.output)))
    if args.command == "sql":
        from veil.launcher.sqlcli import run_sql

        sys.exit(asyncio.run(run_sql(args.query, args.format)))
