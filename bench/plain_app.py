"""The baseline of the list-page benchmark: a plain Starlette endpoint that runs the SQL the
GraphQL request needs (token, count, page, products, responders, holidays: one statement each,
the same number GraphQL sends) and returns byte-identical JSON, without an ORM model or GraphQL
in between.

    python -m bench.plain_app --port P     (same uvicorn settings as `cxtalk serve`)
    POST /list {"first": 100} with "Authorization: Bearer <admin token>"
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tortoise import Tortoise
from tortoise.contrib.starlette import RegisterTortoise

from cxtalk.config import get_settings
from cxtalk.db import fetch, tortoise_config
from cxtalk.gc_tuning import tune_after_startup
from services import schedule
from services.pagination import encode_cursor, page_size


def gid(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def _in(values) -> str:
    return ", ".join("?" * len(values))


def _business_hours(stored) -> list[dict]:
    if stored is None:
        hours = schedule.DEFAULT_BUSINESS_HOURS
    else:
        hours = schedule.hours_from_json(json.loads(stored) if isinstance(stored, str) else stored)
    return [{"weekday": name, "intervals": [{"start": schedule.format_time(i.start), "end": schedule.format_time(i.end)}
                                             for i in hours[n]]}
            for n, name in enumerate(schedule.WEEKDAYS)]


def _date(value) -> str:
    return value if isinstance(value, str) else value.isoformat()


async def list_page(request: Request) -> Response:
    conn = Tortoise.get_connection("default")
    header = request.headers.get("authorization", "")
    token = header.partition(" ")[2].strip()
    found = await fetch(conn, "SELECT mb.domain_id, mb.role FROM api_tokens t JOIN members mb ON mb.id = t.member_id"
                              " WHERE t.token_hash = ?", hashlib.sha256(token.encode()).hexdigest())
    if not found or found[0][1] != "ADMIN":
        return JSONResponse({"error": "admin token required"}, status_code=403)
    domain_id = found[0][0]
    size = page_size((await request.json()).get("first"))
    listed = "domain_id = ? AND status IN ('ACTIVE', 'RESETTING')"
    total = (await fetch(conn, f"SELECT COUNT(*) FROM window_accounts WHERE {listed}", domain_id))[0][0]
    rows = await fetch(conn, "SELECT id, handle, name, description, image_name, invite_token, started_on, status,"
                             " responder_count, product_id, timezone, business_hours, greeting_message,"
                             " out_of_hours_message, holiday_message"
                             f" FROM window_accounts WHERE {listed} ORDER BY id LIMIT ?", domain_id, size + 1)
    accounts = rows[:size]
    ids = [a[0] for a in accounts]
    products, responders, holidays = {}, {i: [] for i in ids}, {i: [] for i in ids}
    if accounts:
        product_ids = sorted({a[9] for a in accounts})
        for p in await fetch(conn, f"SELECT id, name, responder_limit, quantity, in_use FROM products"
                                   f" WHERE id IN ({_in(product_ids)})", *product_ids):
            products[p[0]] = {"id": gid("Product", p[0]), "name": p[1], "responderLimit": p[2],
                              "purchasedQuantity": p[3], "accountsInUse": p[4], "available": max(p[3] - p[4], 0)}
        for r in await fetch(conn, f"SELECT r.account_id, mb.id, mb.name, mb.email, mb.role FROM responders r"
                                   f" JOIN members mb ON mb.id = r.member_id WHERE r.account_id IN ({_in(ids)})"
                                   " ORDER BY r.id", *ids):
            responders[r[0]].append({"id": gid("Member", r[1]), "name": r[2], "email": r[3], "role": r[4]})
        for h in await fetch(conn, f"SELECT id, account_id, start_date, end_date, name FROM holidays"
                                   f" WHERE account_id IN ({_in(ids)}) ORDER BY start_date, id", *ids):
            holidays[h[1]].append({"id": gid("Holiday", h[0]), "startDate": _date(h[2]), "endDate": _date(h[3]),
                                   "name": h[4]})
    base = get_settings().public_base_url
    edges = [{"cursor": encode_cursor(a[0]), "node": {
        "id": gid("WindowAccount", a[0]), "handle": a[1], "name": a[2], "description": a[3],
        "imageUrl": f"{base}/images/{a[4]}" if a[4] else None, "inviteUrl": f"{base}/invite/{a[5]}",
        "qrCodeUrl": f"{base}/invite/{a[5]}/qr.png", "startedOn": _date(a[6]), "status": a[7], "responderCount": a[8],
        "product": products[a[9]], "responders": responders[a[0]],
        "settings": {"timezone": a[10], "businessHours": _business_hours(a[11]), "greetingMessage": a[12],
                     "outOfHoursMessage": a[13], "holidayMessage": a[14], "holidays": holidays[a[0]]}}}
        for a in accounts]
    body = {"data": {"windowAccounts": {
        "totalCount": total,
        "pageInfo": {"hasNextPage": len(rows) > size, "endCursor": encode_cursor(accounts[-1][0]) if accounts else None},
        "edges": edges}}}
    # what strawberry sends: json.dumps(..., separators=(",", ":"))
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app() -> Starlette:
    settings = get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            tune_after_startup()  # as `cxtalk serve` does: the comparison is of the GraphQL layer
            yield

    return Starlette(routes=[Route("/list", list_page, methods=["POST"]), Route("/healthz", healthz)],
                     lifespan=lifespan)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.Server(uvicorn.Config("bench.plain_app:create_app", factory=True, host="127.0.0.1", port=args.port,
                                  log_level="info", proxy_headers=True)).run()


if __name__ == "__main__":
    main()
