"""A minimal graphql-transport-ws client for tests (the protocol the admin console speaks)."""
from __future__ import annotations

import asyncio
import json

import websockets


class Subscription:
    def __init__(self, url: str, token: str | None, query: str, variables: dict):
        self.url, self.token, self.query, self.variables = url, token, query, variables

    async def __aenter__(self) -> "Subscription":
        self.ws = await websockets.connect(self.url, subprotocols=["graphql-transport-ws"], open_timeout=10)
        payload = {"authorization": f"Bearer {self.token}"} if self.token else {}
        await self.ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        await self.ws.send(json.dumps({"id": "1", "type": "subscribe",
                                       "payload": {"query": self.query, "variables": self.variables}}))
        return self

    async def next(self, timeout: float = 30) -> dict:
        """The next message of the subscription: {'type': 'next'|'error'|'complete', ...}."""
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if message["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            return message

    async def until_complete(self, timeout: float = 60) -> list[dict]:
        """Every `next` payload's data until the server completes the subscription."""
        received = []
        while True:
            message = await self.next(timeout)
            if message["type"] == "complete":
                return received
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            received.append(message["payload"]["data"])

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()
