"""A bounded schemathesis run of every query and mutation against the live server process.

The schema comes from the committed SDL (schema.graphql): introspection is off outside dev mode.
schemathesis (hypothesis-graphql underneath) builds random operations — random selections of
fields and random argument literals, plus schema-violating ones in its negative mode — and each
is sent over HTTP to a real `cxtalk serve` process with the admin token of a seeded domain (the
operator token for the operator mutations). IDs are drawn from the real objects of that domain,
another domain's, missing and malformed ones, so resolvers run past ID decoding; strings mix
hypothesis' text (NUL included) with hand-picked hostile values.

The property: no response is a 5xx, none carries a masked INTERNAL_SERVER_ERROR (or breaks the
schema by returning null for a non-null field), and every response is a GraphQL JSON object.
Expected refusals (payload `errors`, UNAUTHENTICATED / FORBIDDEN / BAD_USER_INPUT, validation
and query-limit errors) are fine.

Bounded and repeatable: hypothesis is derandomized (a fixed seed per operation, no example
database), with at most FUZZ_MAX_EXAMPLES examples per operation and mode and a total budget of
FUZZ_BUDGET_SECONDS shared evenly by the operations.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode
from schemathesis.graphql import nodes
from schemathesis.specs.graphql import scalars as schemathesis_scalars

from schema.ids import encode
from tests.processes import ApiServer
from tests.support import World

SDL = Path(__file__).resolve().parent.parent / "schema.graphql"
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "100"))
BUDGET_SECONDS = float(os.environ.get("FUZZ_BUDGET_SECONDS", "75"))
OPERATOR_FIELDS = {"grantProduct", "provisionMembers", "issueMemberToken", "registerBot", "recordCustomerAdded",
                   "recordCustomerMessage", "recordResponderReply"}
HOSTILE_STRINGS = [
    "", " ", "\x00", "a\x00b", "\x07", "\x1b[31m", "\x7f", "\x85", "\u2028", "\u202e", "\ufeff", "\uffff",
    "e\u0301" * 21, "😀" * 21, "あ" * 101, "x" * 501, "y" * 10_001, "support", "Support", "ＳＵＰＰＯＲＴ",
    "\ufdfa" * 20, "ß" * 241 + "@acme.example", "09:00", "24:00", "25:00", "Asia/Tokyo", "Mars/Base",
    "'; DROP TABLE members; --", "%", "_", "\\", '"', "{}", "null", "c:1", "Yzox", "YzotMQ", "YzoyMTQ3NDgzNjQ4",
]


@dataclass
class Report:
    requests: int = 0
    answered: Counter = field(default_factory=Counter)  # operation -> responses with data and no errors
    sent: Counter = field(default_factory=Counter)  # operation -> requests
    faults: list = field(default_factory=list)


def fault_of(response: requests.Response) -> str | None:
    """Why a response is a fault, or None."""
    if response.status_code >= 500:
        return f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}, not JSON"
    if response.status_code == 400 and not isinstance(body, dict):
        return None  # a refused request (e.g. a body the HTTP layer cannot take)
    if not isinstance(body, dict) or not ({"data", "errors"} & set(body)):
        return "not a GraphQL response object"
    for error in body.get("errors") or []:
        if (error.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR" \
                or error.get("message", "").startswith("Internal server error"):
            return "masked INTERNAL_SERVER_ERROR"
        if "Cannot return null for non-nullable field" in error.get("message", ""):
            return "null for a non-null field"
    return None


def id_values(world: World, other: World, seeded: dict) -> list[str]:
    """Real IDs of every type, another domain's, missing ones, and malformed ones."""
    real = [world.domain_id, world.admin_id, *world.member_ids, world.product_id, *seeded["mine"]]
    foreign = [other.domain_id, other.admin_id, *other.member_ids[:2], other.product_id, *seeded["theirs"]]
    missing = [encode(t, 99999) for t in ("WindowAccount", "Member", "Product", "Holiday", "TalkRoom", "HistoryExport",
                                          "Domain", "Contact", "Bot", "Message")]
    malformed = ["", "abc", "\x00", encode("Bogus", 1), encode("Member", 2**31), "ＩＤ", "x" * 101]
    return real + foreign + missing + malformed


async def seed(world: World) -> tuple[World, dict]:
    """Objects of every kind in this domain and in another one, for the IDs the fuzzer draws."""
    m = world.member_ids
    extra = await world.grant("Extra", 3, 10)
    account = await world.account(name="Support", handle="support", responders=m[:2], product_id=extra)
    spare = await world.account(name="Sales", handle="sales", responders=[m[2]], product_id=extra)
    op = world.operator

    async def call(query: str, variables: dict, token: str) -> dict:
        data = await world.api.data(query, variables, token=token)
        payload = next(iter(data.values()))
        assert payload["errors"] == [], payload
        return payload

    message = await call("""mutation($i: RecordCustomerMessageInput!) { recordCustomerMessage(input: $i) {
        message { id } room { id contact { id } } errors { code } } }""", {"i": {
        "accountId": account["id"], "contact": {"externalId": "U1", "name": "Taro", "channel": "LINE"},
        "content": "hello"}}, op)
    bot = await call("""mutation($i: RegisterBotInput!) { registerBot(input: $i) { bot { id } errors { code } } }""",
                     {"i": {"accountId": account["id"], "name": "FAQ", "origin": "CX_TALK"}}, op)
    start = time.strftime("%Y-%m-%d", time.localtime(time.time() + 20 * 86400))
    holiday = await call("""mutation($i: AddHolidayInput!) { addHoliday(input: $i) {
        windowAccount { settings { holidays { id } } } errors { code } } }""",
                         {"i": {"accountId": account["id"], "startDate": start, "endDate": start}}, world.admin)
    export = await call("""mutation($i: RequestHistoryExportInput!) { requestHistoryExport(input: $i) {
        export { id } errors { code } } }""", {"i": {}}, world.admin)
    mine = [extra, account["id"], spare["id"], message["message"]["id"], message["room"]["id"],
            message["room"]["contact"]["id"], bot["bot"]["id"],
            holiday["windowAccount"]["settings"]["holidays"][0]["id"], export["export"]["id"]]
    other = await World.build(world.api, name="Other")
    theirs_account = await other.account(name="Support", handle="othersupport")
    theirs_export = await call("""mutation($i: RequestHistoryExportInput!) { requestHistoryExport(input: $i) {
        export { id } errors { code } } }""", {"i": {}}, other.admin)
    return other, {"mine": mine, "theirs": [theirs_account["id"], theirs_export["export"]["id"]]}


def register_scalars(ids: list[str]) -> None:
    """Draw IDs from `ids` and strings from text or the hostile list; uploads are null."""
    schemathesis.graphql.scalar("ID", st.sampled_from(ids).map(nodes.String))
    schemathesis.graphql.scalar("String", st.one_of(
        st.text(max_size=40), st.sampled_from(HOSTILE_STRINGS)).map(nodes.String))
    schemathesis.graphql.scalar("Upload", st.just(nodes.Null))


def fuzz(server_url: str, tokens: dict[str, str]) -> Report:
    schema = schemathesis.graphql.from_path(SDL)
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=lambda o: o.label)
    assert len(operations) >= 25, [o.label for o in operations]
    report = Report()
    share = BUDGET_SECONDS / len(operations)
    with requests.Session() as session:
        for operation in operations:
            name = operation.label.split(".", 1)[1]
            token = tokens["operator"] if name in OPERATOR_FIELDS else tokens["admin"]
            deadline = time.monotonic() + share
            for mode, examples in ((GenerationMode.POSITIVE, MAX_EXAMPLES), (GenerationMode.NEGATIVE,
                                                                             max(1, MAX_EXAMPLES // 3))):
                strategy = operation.as_strategy(generation_mode=mode)

                @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                          print_blob=False)
                @given(case=strategy)
                def run(case) -> None:
                    if time.monotonic() > deadline:
                        return
                    response = case.call(base_url=f"{server_url}/graphql", session=session,
                                         headers={"Authorization": f"Bearer {token}"}, timeout=30)
                    report.requests += 1
                    report.sent[name] += 1
                    problem = fault_of(response)
                    if problem:
                        report.faults.append((operation.label, mode.value, problem, case.body,
                                              response.status_code, response.text[:600]))
                        return
                    body = response.json()
                    if isinstance(body, dict) and body.get("data") and not body.get("errors"):
                        report.answered[name] += 1

                run()
    return report


async def test_no_generated_operation_is_a_server_fault(world):
    other, seeded = await seed(world)
    saved = dict(schemathesis_scalars.CUSTOM_SCALARS)
    register_scalars(id_values(world, other, seeded))
    server = ApiServer().start()
    try:
        started = time.monotonic()
        report = await asyncio.to_thread(fuzz, server.url, {"admin": world.admin, "operator": world.operator})
        elapsed = time.monotonic() - started
        # the server is still up and healthy after the run
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    finally:
        server.stop()
        schemathesis_scalars.CUSTOM_SCALARS.clear()
        schemathesis_scalars.CUSTOM_SCALARS.update(saved)
    print(f"\nschemathesis: {report.requests} requests in {elapsed:.1f}s; answered with data: "
          f"{sum(report.answered.values())}; per operation: {dict(sorted(report.sent.items()))}")
    assert not report.faults, json.dumps(report.faults[:10], indent=1, ensure_ascii=False)[:8000]
    # the run did exercise the API: every operation was sent, and calls got past auth and IDs
    assert len(report.sent) >= 25 and min(report.sent.values()) >= 1, report.sent
    assert report.requests >= 10 * len(report.sent), report.requests
    assert sum(report.answered.values()) >= 20, report.answered
