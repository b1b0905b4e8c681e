"""`cxtalk dev`: the whole service on one machine with embedded defaults (used by `make run`)."""
from __future__ import annotations

import asyncio
import os
import signal

from cxtalk import config, db
from cxtalk.embedded_redis import EmbeddedRedis

DEMO_DOMAIN = "Demo Company"
DEMO_MEMBERS = [("佐藤 花子", "hanako.sato@example.com"), ("鈴木 一郎", "ichiro.suzuki@example.com"),
                ("Alice Smith", "alice@example.com"), ("Bob Jones", "bob@example.com"),
                ("高橋 美咲", "misaki.takahashi@example.com")]


async def seed_demo_domain() -> str:
    """Create the demo domain once (admin, products, members, a small history); return a fresh admin token."""
    from models import Domain, Member, Role
    from services import auth, directory, products

    domain = await Domain.filter(name=DEMO_DOMAIN).first()
    if domain is None:
        created = await directory.create_domain(DEMO_DOMAIN, "Demo Admin", "admin@example.com")
        domain = created.domain
        await products.grant_product(domain.id, "CX Talk Standard", responder_limit=5, quantity=3)
        await products.grant_product(domain.id, "CX Talk Large", responder_limit=20, quantity=1)
        await directory.provision_members(domain.id, DEMO_MEMBERS)
        # A small response history, so a newcomer has conversations to browse and export.
        from services.seeding import seed_demo

        await seed_demo(domain.id, accounts=3, contacts=50, messages=2000)
    admin = await Member.filter(domain_id=domain.id, role=Role.ADMIN).order_by("id").first()
    return await auth.issue_member_token(admin.id)


async def _serve(host: str, port: int, demo: bool) -> None:
    import uvicorn

    from cxtalk.cli import _uvicorn_config

    await db.migrate()
    if demo:
        await db.init_db()
        try:
            token = await seed_demo_domain()
        finally:
            await db.close_db()
        url = f"http://{host}:{port}"
        print(f"\nCX Talk admin service: {url}\n"
              f"  GraphiQL:     {url}/graphql\n"
              f"  Admin token:  {token}\n"
              f"  In GraphiQL, Headers: {{\"Authorization\": \"Bearer {token}\"}}\n", flush=True)
    from workers.settings import run_supervised

    worker_task = asyncio.create_task(run_supervised())
    try:
        await uvicorn.Server(_uvicorn_config(host, port)).serve()
    finally:
        worker_task.cancel()
        await asyncio.gather(worker_task, return_exceptions=True)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run_dev(host: str, port: int, demo: bool) -> int:
    # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into KeyboardInterrupt so
    # the private Redis below is stopped too.
    signal.signal(signal.SIGTERM, _interrupt)
    os.environ.setdefault("CXTALK_DEV", "1")  # GraphiQL and introspection on
    os.environ.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
    config.get_settings.cache_clear()
    redis = None
    if not os.environ.get("REDIS_URL"):
        redis = EmbeddedRedis(config.get_settings().data_dir / "redis").start()
        os.environ["REDIS_URL"] = redis.url
        config.get_settings.cache_clear()
        print(f"private Redis started at {redis.url}", flush=True)
    try:
        asyncio.run(_serve(host, port, demo))
    except KeyboardInterrupt:
        pass
    finally:
        if redis is not None:
            redis.stop()
    return 0
