"""End to end: the real server process over HTTP, driven as a client and an operator would."""
import io
import json
import subprocess

import httpx
import pytest
from PIL import Image

from tests.processes import BIN, ApiServer


@pytest.fixture
def server(api):
    started = ApiServer().start()
    yield started
    started.stop()


def cli(*args) -> dict:
    done = subprocess.run([str(BIN / "cxtalk"), *args], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def gql(client, token, query, variables=None, files=None):
    headers = {"Authorization": f"Bearer {token}"}
    if files:
        response = client.post("/graphql", headers=headers, files=files, data={
            "operations": json.dumps({"query": query, "variables": variables}),
            "map": json.dumps({"0": ["variables.input.image"]})})
    else:
        response = client.post("/graphql", headers=headers, json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (0, 120, 255)).save(out, format="PNG")
    return out.getvalue()


def test_admin_journey_over_http(server):
    domain = cli("create-domain", "--name", "E2E Co", "--admin-name", "Admin", "--admin-email", "admin@e2e.example")
    operator = cli("create-operator-token")["operatorToken"]
    admin = domain["adminToken"]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200
        product = gql(client, operator, """mutation($i: GrantProductInput!) { grantProduct(input: $i) { product { id } } }""",
                      {"i": {"domainId": domain["domainId"], "name": "Std", "responderLimit": 2, "quantity": 1}})
        product_id = product["grantProduct"]["product"]["id"]
        members = gql(client, operator, """mutation($i: ProvisionMembersInput!) { provisionMembers(input: $i) { members { id } } }""",
                      {"i": {"domainId": domain["domainId"], "members": [
                          {"name": "佐藤", "email": "sato@e2e.example"}, {"name": "Lee", "email": "lee@e2e.example"}]}})
        ids = [m["id"] for m in members["provisionMembers"]["members"]]

        created = gql(client, admin, """mutation($input: CreateWindowAccountInput!) { createWindowAccount(input: $input) {
              windowAccount { id inviteUrl qrCodeUrl imageUrl responderCount } errors { code } } }""",
                      {"input": {"productId": product_id, "name": "窓口", "handle": "e2edesk", "image": None,
                                 "responderIds": ids[:1]}},
                      files={"0": ("logo2.png", png_bytes(), "image/png")})["createWindowAccount"]
        assert created["errors"] == []
        account = created["windowAccount"]
        image = client.get(account["imageUrl"].replace("http://testserver", ""))
        assert image.status_code == 200 and image.content == png_bytes()
        assert image.headers["x-content-type-options"] == "nosniff"

        token = account["inviteUrl"].rsplit("/", 1)[1]
        invite = client.get(f"/invite/{token}")
        assert invite.status_code == 200
        assert invite.json()["handle"] == "e2edesk" and invite.json()["name"] == "窓口"
        qr = client.get(f"/invite/{token}/qr.png")
        assert qr.status_code == 200 and qr.content.startswith(b"\x89PNG")

        added = gql(client, admin, """mutation($i: AddRespondersInput!) { addResponders(input: $i) {
              windowAccount { responderCount } errors { code } } }""", {"i": {"accountId": account["id"], "memberIds": ids[1:]}})
        assert added["addResponders"] == {"windowAccount": {"responderCount": 2}, "errors": []}
        over = gql(client, admin, """mutation($i: CreateWindowAccountInput!) { createWindowAccount(input: $i) {
              windowAccount { id } errors { field code } } }""",
                   {"i": {"productId": product_id, "name": "Second", "handle": "second", "responderIds": ids[:1]}})
        assert over["createWindowAccount"] == {"windowAccount": None,
                                               "errors": [{"field": "productId", "code": "PRODUCT_EXHAUSTED"}]}
        unauthenticated = client.post("/graphql", json={"query": "{ viewer { role } }"}).json()
        assert unauthenticated["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
