"""`cxtalk`: the operator's command line (see README "Commands")."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys

from cxtalk import db


def _print_json(obj: dict) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


async def _with_db(coro_fn):
    await db.init_db()
    try:
        return await coro_fn()
    finally:
        await db.close_db()


def cmd_migrate(args) -> int:
    asyncio.run(db.migrate())
    print("migrations applied", file=sys.stderr)
    return 0


def cmd_create_domain(args) -> int:
    from schema.ids import encode
    from services.directory import create_domain

    created = asyncio.run(_with_db(lambda: create_domain(args.name, args.admin_name, args.admin_email)))
    _print_json({"domainId": encode("Domain", created.domain.id), "adminToken": created.admin_token})
    return 0


def cmd_create_operator_token(args) -> int:
    from services.auth import create_operator_token

    _print_json({"operatorToken": asyncio.run(_with_db(create_operator_token))})
    return 0


def cmd_seed_demo(args) -> int:
    from schema.ids import MalformedId, decode
    from services.seeding import seed_demo

    try:
        domain_id = decode(args.domain, "Domain")
    except MalformedId as exc:
        print(f"error: domain: {exc.message} (give the domainId printed by create-domain)", file=sys.stderr)
        return 2
    report = asyncio.run(_with_db(lambda: seed_demo(domain_id, accounts=args.accounts, contacts=args.contacts,
                                                    messages=args.messages)))
    _print_json({"domainId": args.domain, "accounts": report.accounts, "responders": report.responders,
                 "contacts": report.contacts, "talkRooms": report.talk_rooms, "groupRooms": report.group_rooms,
                 "bots": report.bots, "holidays": report.holidays, "messages": report.messages,
                 "membersProvisioned": report.members_provisioned, "seconds": report.seconds})
    return 0


def _uvicorn_config(host: str, port: int):
    import uvicorn

    return uvicorn.Config("server:app", factory=True, host=host, port=port, log_level="info",
                          ws="websockets-sansio", proxy_headers=True, timeout_graceful_shutdown=5)


def cmd_serve(args) -> int:
    import uvicorn

    uvicorn.Server(_uvicorn_config(args.host, args.port)).run()
    return 0


def cmd_worker(args) -> int:
    import signal

    from workers.settings import run_supervised

    async def main():
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await run_supervised()
        except asyncio.CancelledError:
            logging.getLogger("cxtalk.worker").info("worker stopped by signal")

    asyncio.run(main())
    return 0


def cmd_dev(args) -> int:
    from cxtalk.devrun import run_dev

    return run_dev(args.host, args.port, demo=args.demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cxtalk", description="CX Talk window-account administration service")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("dev", help="migrate, start a private Redis if REDIS_URL is unset, run API and worker")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--demo", action="store_true", help="seed a demo domain and print an admin token")
    p.set_defaults(func=cmd_dev)

    p = sub.add_parser("serve", help="run the API (uvicorn)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run the background worker (arq)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("create-domain", help="create a domain with its first administrator")
    p.add_argument("--name", required=True)
    p.add_argument("--admin-name", required=True)
    p.add_argument("--admin-email", required=True)
    p.set_defaults(func=cmd_create_domain)

    p = sub.add_parser("create-operator-token", help="create a token for internal tooling")
    p.set_defaults(func=cmd_create_operator_token)

    p = sub.add_parser("seed-demo", help="add bulk demo data (accounts, contacts, a year of history) to a domain")
    p.add_argument("--domain", required=True, help="the domainId printed by create-domain")
    p.add_argument("--accounts", type=int, default=5)
    p.add_argument("--contacts", type=int, default=200, help="in all, spread over the accounts")
    p.add_argument("--messages", type=int, default=10_000)
    p.set_defaults(func=cmd_seed_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    from services.errors import BusinessError

    try:
        return args.func(args) or 0
    except BusinessError as exc:
        for e in exc.errors:
            print(f"error: {e.field}: {e.code.value}: {e.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
