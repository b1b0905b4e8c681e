"""The Starlette application: GraphQL over HTTP and WebSocket, invite links, images, health."""
from __future__ import annotations

import contextlib
import logging

import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL
from cross_web import HTTPException
from tortoise import Tortoise
from tortoise.contrib.starlette import RegisterTortoise

from cxtalk.broadcast import Broadcaster
from cxtalk.config import Settings, get_settings
from cxtalk.db import tortoise_config
from cxtalk.gc_tuning import tune_after_startup
from cxtalk.ratelimit import RateLimitMiddleware
from schema import schema
from schema.context import Context
from services import audit, exports, images, invites, jobs

log = logging.getLogger("cxtalk.server")

# An image is < 10 MiB; the rest of a multipart GraphQL request is small.
MAX_GRAPHQL_BODY = 11 * 1024 * 1024
MAX_SUBSCRIPTIONS_PER_CONNECTION = 20


class GraphQLApp(GraphQL):
    def __init__(self, settings: Settings):
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.dev_mode else None,
            allow_queries_via_get=False,  # mutations never over GET; clients POST
            multipart_uploads_enabled=True,
            allowed_origins=settings.allowed_origins,  # cross-origin WebSocket handshakes
            max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
        )
        self.settings = settings

    async def get_context(self, request, response) -> Context:
        return Context(request=request, response=response, settings=self.settings)

    async def parse_http_body(self, request):
        """Refuse malformed bodies with 400 (strawberry would let some escape as 500s)."""
        try:
            data = await super().parse_http_body(request)
        except (UnicodeDecodeError, AttributeError, TypeError) as exc:
            raise HTTPException(400, "The request body must be a JSON object in UTF-8.") from exc
        name = getattr(data, "operation_name", None)
        if name is not None and (not isinstance(name, str) or not name.isascii() or not name.isidentifier()):
            raise HTTPException(400, "operationName must be a GraphQL name.")
        return data


def _not_found() -> JSONResponse:
    return JSONResponse({"error": "not found"}, status_code=404)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()

    async def invite(request: Request) -> Response:
        account = await invites.active_account_by_invite(request.path_params["token"])
        if account is None:
            return _not_found()
        base = settings.public_base_url
        return JSONResponse({
            "name": account.name, "handle": account.handle, "description": account.description,
            "imageUrl": f"{base}/images/{account.image_name}" if account.image_name else None,
        })

    async def invite_qr(request: Request) -> Response:
        token = request.path_params["token"]
        account = await invites.active_account_by_invite(token)
        if account is None:
            return _not_found()
        png = invites.qr_png(invites.invite_url(settings.public_base_url, token))
        return Response(png, media_type="image/png", headers={
            "Content-Disposition": f'inline; filename="{account.handle}-qr.png"',
            "Cache-Control": "no-store",  # must stop working at once when the account is reset
            "X-Content-Type-Options": "nosniff"})

    async def image(request: Request) -> Response:
        path = images.stored_image_path(settings.images_dir, request.path_params["name"])
        if path is None:
            return _not_found()
        return FileResponse(path, media_type="image/png", headers={
            "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'",
            "Cache-Control": "public, max-age=31536000, immutable"})

    async def export_download(request: Request) -> Response:
        found = await exports.downloadable(request.path_params["token"])
        if found is None:
            return _not_found()
        export, path = found
        from services.export_files import content_type, file_extension

        await audit.record(actor=None, actor_kind="DOWNLOAD_LINK", domain_id=export.domain_id,
                           action="downloadHistoryExport", target_type="HistoryExport", target_id=export.id,
                           changes=None, outcome="OK", client_address=request.client.host if request.client else None)
        name = f"cxtalk-history-{export.created_at:%Y%m%d}-{export.id}.{file_extension(export.format.value)}"
        return FileResponse(path, media_type=content_type(export.format.value, export.csv_encoding.value),
                            filename=name, content_disposition_type="attachment",
                            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = {"database": "ok", "redis": "ok"}
        try:
            await Tortoise.get_connection("default").execute_query("SELECT 1")
        except Exception as exc:  # report, never crash the probe
            checks["database"] = f"error: {type(exc).__name__}"
        redis_client = request.app.state.redis
        if redis_client is None:
            checks["redis"] = "not configured (set REDIS_URL)"
        else:
            try:
                await redis_client.ping()
            except Exception as exc:
                checks["redis"] = f"error: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", **checks},
                            status_code=200 if ready else 503)

    graphql_app = GraphQLApp(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.settings = settings
        app.state.redis = (aioredis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
                           if settings.redis_url else None)
        app.state.broadcaster = Broadcaster(settings.redis_url)
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            await jobs.connect(settings.redis_url)
            app.state.broadcaster.start()
            tune_after_startup()
            try:
                yield
            finally:
                await app.state.broadcaster.stop()
                await jobs.close()
                if app.state.redis is not None:
                    await app.state.redis.aclose()

    return Starlette(
        routes=[
            Route("/graphql", graphql_app, methods=["GET", "POST"], max_body_size=MAX_GRAPHQL_BODY),
            WebSocketRoute("/graphql", graphql_app),
            Route("/invite/{token}", invite),
            Route("/invite/{token}/qr.png", invite_qr),
            Route("/images/{name}", image),
            Route("/exports/{token}", export_download),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
        max_body_size=MAX_GRAPHQL_BODY,
        middleware=[
            Middleware(CORSMiddleware, allow_origins=list(settings.allowed_origins), allow_methods=["GET", "POST"],
                       allow_headers=["authorization", "content-type"], max_age=600),
            Middleware(RateLimitMiddleware, redis_url=settings.redis_url, per_second=settings.rate_limit_per_second,
                       burst=settings.rate_limit_burst),
        ],
    )


def app() -> Starlette:
    """Factory for `uvicorn --factory server:app`."""
    return create_app()
