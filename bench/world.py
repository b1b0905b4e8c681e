"""The data a bench run measures: a domain with many window accounts (the list page) and a domain
with a large response history (the exports), both made through the product's own interfaces."""
from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from bench.harness import Environment, log

LIST_FIELDS = """
totalCount pageInfo { hasNextPage endCursor }
edges { cursor node {
  id handle name description imageUrl inviteUrl qrCodeUrl startedOn status responderCount
  product { id name responderLimit purchasedQuantity accountsInUse available }
  responders { id name email role }
  settings { timezone businessHours { weekday intervals { start end } }
             greetingMessage outOfHoursMessage holidayMessage holidays { id startDate endDate name } }
} }"""
LIST_PAGE = f"query($first: Int) {{ windowAccounts(first: $first) {{ {LIST_FIELDS} }} }}"


class GraphQLError(RuntimeError):
    pass


class GraphQL:
    """A synchronous GraphQL-over-HTTP client with one keep-alive connection."""

    def __init__(self, base_url: str, token: str):
        self.client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def raw(self, query: str, variables: dict | None = None) -> httpx.Response:
        return self.client.post("/graphql", json={"query": query, "variables": variables or {}})

    def __call__(self, query: str, variables: dict | None = None) -> dict:
        body = self.raw(query, variables).json()
        if body.get("errors"):
            raise GraphQLError(body["errors"])
        return body["data"]

    def mutate(self, query: str, input: dict) -> dict:
        payload = next(iter(self(query, {"input": input}).values()))
        if payload.get("errors"):
            raise GraphQLError(payload["errors"])
        return payload

    def close(self) -> None:
        self.client.close()


@dataclass
class Domain:
    gid: str
    admin_token: str
    account_ids: list[str] = field(default_factory=list)


def create_domain(env: Environment, name: str) -> Domain:
    created = env.cxtalk_json("create-domain", "--name", name, "--admin-name", f"{name} 管理者",
                              "--admin-email", f"admin@{name.lower()}.example")
    return Domain(created["domainId"], created["adminToken"])


GRANT = """mutation($input: GrantProductInput!) { grantProduct(input: $input) { product { id } errors { code } } }"""
PROVISION = """mutation($input: ProvisionMembersInput!) {
  provisionMembers(input: $input) { members { id } errors { code } } }"""
CREATE = """mutation($input: CreateWindowAccountInput!) {
  createWindowAccount(input: $input) { windowAccount { id } errors { field code } } }"""
SETTINGS = """mutation($input: UpdateWindowSettingsInput!) {
  updateWindowSettings(input: $input) { windowAccount { id } errors { field code } } }"""
HOLIDAY = """mutation($input: AddHolidayInput!) { addHoliday(input: $input) { windowAccount { id } errors { code } } }"""


def build_list_domain(env: Environment, api_url: str, operator_token: str, accounts: int = 120) -> Domain:
    """Accounts on two products, two responders each, custom settings on every third, a holiday on
    every fourth: every field of the list page has something to load."""
    domain = create_domain(env, "List")
    operator, admin = GraphQL(api_url, operator_token), GraphQL(api_url, domain.admin_token)
    try:
        people = [{"name": f"担当者 {i:02d}", "email": f"member{i}@list.example"} for i in range(12)]
        members = [m["id"] for m in operator.mutate(PROVISION, {"domainId": domain.gid, "members": people})["members"]]
        products = [operator.mutate(GRANT, {"domainId": domain.gid, "name": name, "responderLimit": 3,
                                            "quantity": accounts})["product"]["id"]
                    for name in ("Standard", "Premium")]
        for i in range(accounts):
            account = admin.mutate(CREATE, {
                "productId": products[i % 2], "name": f"窓口 {i:03d}", "handle": f"desk{i:03d}",
                "description": f"Desk number {i}" if i % 2 else None,
                "responderIds": [members[i % len(members)], members[(i + 5) % len(members)]]})["windowAccount"]
            domain.account_ids.append(account["id"])
            if i % 3 == 0:
                admin.mutate(SETTINGS, {
                    "accountId": account["id"], "timezone": "America/New_York" if i % 2 else "Asia/Tokyo",
                    "businessHours": [{"weekday": "SATURDAY", "intervals": [{"start": "10:00", "end": "14:00"}]}],
                    "greetingMessage": "いらっしゃいませ", "outOfHoursMessage": "ただいま営業時間外です。",
                    "holidayMessage": "本日は休業日です。"})
            if i % 4 == 0:
                admin.mutate(HOLIDAY, {"accountId": account["id"], "startDate": "2026-12-29",
                                       "endDate": "2027-01-03", "name": "年末年始"})
    finally:
        operator.close()
        admin.close()
    log(f"list domain: {accounts} accounts")
    return domain


def seed_history(env: Environment, name: str, messages: int) -> Domain:
    """A domain with `messages` messages of response history (`cxtalk seed-demo`)."""
    domain = create_domain(env, name)
    env.cxtalk("seed-demo", "--domain", domain.gid, "--messages", str(messages), timeout=1800)
    return domain
