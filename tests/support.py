"""Helpers shared by the tests: a GraphQL caller and a small standard world to act in."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx

from services.auth import create_operator_token
from services.directory import create_domain

ACCOUNT_FIELDS = """
  id handle name description imageUrl inviteUrl qrCodeUrl startedOn status responderCount
  product { id name responderLimit purchasedQuantity accountsInUse available }
  responders { id name email }
"""

CREATE_ACCOUNT = f"""
mutation($input: CreateWindowAccountInput!) {{
  createWindowAccount(input: $input) {{ windowAccount {{ {ACCOUNT_FIELDS} }} errors {{ field code message }} }}
}}"""

UPDATE_ACCOUNT = f"""
mutation($input: UpdateWindowAccountInput!) {{
  updateWindowAccount(input: $input) {{ windowAccount {{ {ACCOUNT_FIELDS} }} errors {{ field code message }} }}
}}"""

ADD_RESPONDERS = f"""
mutation($input: AddRespondersInput!) {{
  addResponders(input: $input) {{ windowAccount {{ {ACCOUNT_FIELDS} }} errors {{ field code message }} }}
}}"""

REMOVE_RESPONDER = f"""
mutation($input: RemoveResponderInput!) {{
  removeResponder(input: $input) {{ windowAccount {{ {ACCOUNT_FIELDS} }} errors {{ field code message }} }}
}}"""

GRANT_PRODUCT = """
mutation($input: GrantProductInput!) {
  grantProduct(input: $input) { product { id name responderLimit purchasedQuantity accountsInUse available }
                                errors { field code message } }
}"""

PROVISION_MEMBERS = """
mutation($input: ProvisionMembersInput!) {
  provisionMembers(input: $input) { members { id name email role } errors { field code message } }
}"""

ISSUE_TOKEN = """
mutation($input: IssueMemberTokenInput!) { issueMemberToken(input: $input) { token errors { field code message } } }
"""


class GraphQLFailure(AssertionError):
    pass


class Api:
    def __init__(self, client: httpx.AsyncClient):
        self.client = client

    async def raw(self, query: str, variables: dict | None = None, token: str | None = None,
                  files: dict | None = None) -> dict:
        """The whole response body; `files` maps a variable path (e.g. 'variables.input.image')
        to (filename, bytes, content type) and sends a GraphQL multipart request."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if files:
            names = {str(i): path for i, path in enumerate(files)}
            body = {
                "operations": json.dumps({"query": query, "variables": variables or {}}),
                "map": json.dumps({k: [v] for k, v in names.items()}),
            }
            upload = {k: files[v] for k, v in names.items()}
            response = await self.client.post("/graphql", data=body, files=upload, headers=headers)
        else:
            response = await self.client.post("/graphql", json={"query": query, "variables": variables or {}},
                                              headers=headers)
        assert response.status_code in (200, 400), (response.status_code, response.text)
        return response.json()

    async def data(self, query: str, variables: dict | None = None, token: str | None = None,
                   files: dict | None = None) -> dict:
        """The `data` of a response that must have no top-level errors."""
        body = await self.raw(query, variables, token, files)
        if body.get("errors"):
            raise GraphQLFailure(body["errors"])
        return body["data"]

    async def error_code(self, query: str, variables: dict | None = None, token: str | None = None) -> str:
        """The extensions.code of the first top-level error, which must exist."""
        body = await self.raw(query, variables, token)
        assert body.get("errors"), body
        return body["errors"][0].get("extensions", {}).get("code")


@dataclass
class World:
    api: Api
    operator: str
    domain_id: str
    admin: str  # admin token
    admin_id: str
    member_ids: list[str] = field(default_factory=list)
    member_tokens: list[str] = field(default_factory=list)
    product_id: str = ""

    @classmethod
    async def build(cls, api: Api, name: str = "Acme", members: int = 4, responder_limit: int = 2,
                    quantity: int = 2) -> "World":
        operator = await create_operator_token()
        domain = await create_domain(name, f"{name} Admin", f"admin@{name.lower()}.example")
        from schema.ids import encode

        world = cls(api=api, operator=operator, domain_id=encode("Domain", domain.domain.id),
                    admin=domain.admin_token, admin_id=encode("Member", domain.admin.id))
        people = [{"name": f"{name} Member {i}", "email": f"m{i}@{name.lower()}.example"} for i in range(members)]
        data = await api.data(PROVISION_MEMBERS, {"input": {"domainId": world.domain_id, "members": people}},
                              token=operator)
        assert data["provisionMembers"]["errors"] == []
        world.member_ids = [m["id"] for m in data["provisionMembers"]["members"]]
        for member_id in world.member_ids:
            issued = await api.data(ISSUE_TOKEN, {"input": {"memberId": member_id}}, token=operator)
            world.member_tokens.append(issued["issueMemberToken"]["token"])
        world.product_id = await world.grant("Standard", responder_limit, quantity)
        return world

    async def grant(self, name: str, responder_limit: int, quantity: int) -> str:
        data = await self.api.data(GRANT_PRODUCT, {"input": {
            "domainId": self.domain_id, "name": name, "responderLimit": responder_limit, "quantity": quantity}},
            token=self.operator)
        assert data["grantProduct"]["errors"] == [], data
        return data["grantProduct"]["product"]["id"]

    async def create_account(self, name: str = "Support", handle: str = "support", responders: list[str] | None = None,
                             product_id: str | None = None, **extra) -> dict:
        """The createWindowAccount payload (windowAccount and errors)."""
        payload = {"productId": product_id or self.product_id, "name": name, "handle": handle,
                   "responderIds": responders if responders is not None else self.member_ids[:1], **extra}
        data = await self.api.data(CREATE_ACCOUNT, {"input": payload}, token=self.admin)
        return data["createWindowAccount"]

    async def account(self, **kwargs) -> dict:
        """Create an account that must succeed; returns the windowAccount."""
        payload = await self.create_account(**kwargs)
        assert payload["errors"] == [], payload["errors"]
        return payload["windowAccount"]

    async def mutate(self, mutation: str, input: dict, token: str | None = None) -> dict:
        data = await self.api.data(mutation, {"input": input}, token=token or self.admin)
        return next(iter(data.values()))


async def snapshot() -> dict:
    """Every row that a business rule may change, to prove that a refused request wrote nothing."""
    from models import Domain, Member, Product, Responder, WindowAccount

    return {
        "accounts": await WindowAccount.all().order_by("id").values(
            "id", "name", "name_key", "handle", "handle_key", "description", "image_name", "product_id",
            "status", "responder_count"),
        "responders": await Responder.all().order_by("id").values("account_id", "member_id"),
        "products": await Product.all().order_by("id").values("id", "name", "quantity", "in_use", "responder_limit"),
        "members": await Member.all().order_by("id").values("id", "name", "email", "role"),
        "domains": await Domain.all().order_by("id").values("id", "name"),
    }


def errors_of(payload: dict) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]
