"""A Python client of Storefront, generated from docs/openapi.json by openapi-python-client
(generated/python), used the way an integrator would: register two accounts, log in, list
products, create one, place an order with an Idempotency-Key (and replay it), and read a
problem. tests/openapi/run.sh checks it with `mypy --strict` and runs it against a server.

    python client_check.py http://127.0.0.1:PORT
"""

from __future__ import annotations

import sys
import uuid

from storefront_api_client import AuthenticatedClient, Client
from storefront_api_client.api.accounts import register
from storefront_api_client.api.auth import login
from storefront_api_client.api.orders import place_order
from storefront_api_client.api.products import create_product, get_product, list_products
from storefront_api_client.models import (
    CreateProductRequest,
    ListProductsSort,
    LoginRequest,
    OrderItemRequest,
    OrderResponse,
    ProductListPage,
    PlaceOrderRequest,
    Problem,
    ProductResponse,
    RegisterRequest,
    TokenResponse,
    UserResponse,
)

PASSWORD = "a client generated from the document"


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"client check failed: {what}")


def account(base_url: str, name: str) -> AuthenticatedClient:
    """Registers a new account and logs it in."""
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    email = f"{name}-{uuid.uuid4().hex[:12]}@client.test"
    created = register.sync(client=anonymous, body=RegisterRequest(email=email, password=PASSWORD, name=name))
    check(isinstance(created, UserResponse), f"register answered {created!r}")
    tokens = login.sync(client=anonymous, body=LoginRequest(email=email, password=PASSWORD))
    check(isinstance(tokens, TokenResponse), f"login answered {tokens!r}")
    assert isinstance(tokens, TokenResponse)
    return AuthenticatedClient(base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True)


def main(base_url: str) -> None:
    seller = account(base_url, "Seller")
    buyer = account(base_url, "Buyer")

    product = create_product.sync(
        client=seller, body=CreateProductRequest(name="Generated walnut desk", price_cents=49_900, stock=3)
    )
    check(isinstance(product, ProductResponse), f"create_product answered {product!r}")
    assert isinstance(product, ProductResponse)

    page = list_products.sync(client=buyer, q="generated walnut", sort=ListProductsSort.PRICE, limit=5)
    check(isinstance(page, ProductListPage), f"list_products answered {page!r}")
    assert isinstance(page, ProductListPage)
    # The page's items are the same model a single read answers.
    check(any(isinstance(item, ProductResponse) and item.id == product.id for item in page.items), "listed")

    key = f"client-check-{uuid.uuid4()}"
    request = PlaceOrderRequest(items=[OrderItemRequest(product_id=product.id, quantity=2)])
    first = place_order.sync_detailed(client=buyer, body=request, idempotency_key=key)
    check(first.status_code == 201, f"the order answered {first.status_code}: {first.content!r}")
    check(isinstance(first.parsed, OrderResponse), "the order parses")
    replay = place_order.sync_detailed(client=buyer, body=request, idempotency_key=key)
    check(replay.status_code == 201 and replay.headers.get("idempotent-replayed") == "true", "the replay replays")
    assert isinstance(first.parsed, OrderResponse) and isinstance(replay.parsed, OrderResponse)
    check(replay.parsed.id == first.parsed.id, "the replay is the same order")

    after = get_product.sync(client=buyer, id=product.id)
    assert isinstance(after, ProductResponse)
    check(after.stock == 1, f"stock taken once: {after.stock}")

    # Two more than are left: a problem, with the short line named.
    short = place_order.sync(client=buyer, body=PlaceOrderRequest(items=[OrderItemRequest(product_id=product.id, quantity=2)]))
    check(isinstance(short, Problem), f"an oversell answered {short!r}")
    assert isinstance(short, Problem)
    check(short.status == 409 and short.code == "insufficient_stock", f"{short.status} {short.code}")
    check(bool(short.request_id), "the problem carries its request id")

    wrong = login.sync(client=Client(base_url=base_url), body=LoginRequest(email="nobody@client.test", password="x" * 12))
    check(isinstance(wrong, Problem) and wrong.code == "invalid_credentials", f"a wrong login answered {wrong!r}")
    print("the generated Python client placed, replayed and refused orders as documented")


if __name__ == "__main__":
    main(sys.argv[1])
