"""Drives the Boxoffice payment sandbox with Stripe's official Python SDK.

Run by crates/payments/tests/stripe_sdk.rs, which serves the sandbox and a
webhook receiver on loopback ports and passes their addresses. Code we did
not write must find the sandbox's answers to be Stripe's: the SDK creates,
retrieves, lists (auto-paging), expires and refunds through it, maps its
errors to the SDK's exception classes, and accepts its webhook signatures
with stripe.Webhook.construct_event.

Exits 0 when every check passes, 1 on the first that fails, 2 when the
stripe package is missing.
"""

import argparse
import json
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

try:
    import stripe
except ImportError:
    print(
        "the Python package `stripe` is missing: "
        "python3 -m pip install -r requirements-test.txt",
        file=sys.stderr,
    )
    sys.exit(2)

# Every wait here is bounded.
HTTP_TIMEOUT_SECS = 10
WEBHOOK_WAIT_SECS = 20

SUCCESS_URL = "http://shop.test/paid?session={CHECKOUT_SESSION_ID}"
CANCEL_URL = "http://shop.test/cancelled"


def step(name):
    print(f"ok: {name}", flush=True)


def expect_error(error_class, call, **attributes):
    """Runs call, which must raise error_class with the given attributes."""
    try:
        call()
    except error_class as error:
        for name, wanted in attributes.items():
            found = getattr(error, name)
            assert found == wanted, f"{error_class.__name__}.{name}: {found!r}, not {wanted!r}"
        return error
    raise AssertionError(f"expected {error_class.__name__}, but the call succeeded")


def session_params(order, **changes):
    params = dict(
        mode="payment",
        line_items=[
            {
                "price_data": {
                    "currency": "eur",
                    "unit_amount": 2495,
                    "product_data": {"name": "Tosca, Stalls, row C"},
                },
                "quantity": 2,
            }
        ],
        success_url=SUCCESS_URL,
        cancel_url=CANCEL_URL,
        client_reference_id=order,
        metadata={"order_id": order},
        customer_email="zoe@example.org",
        expires_at=int(time.time()) + 3600,
    )
    params.update(changes)
    return params


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def pay_on_page(url, method):
    """POSTs the payment page's form as a browser would; returns (status, Location)."""
    body = urllib.parse.urlencode({"method": method}).encode()
    opener = urllib.request.build_opener(NoRedirects)
    try:
        request = urllib.request.Request(url, data=body)
        response = opener.open(request, timeout=HTTP_TIMEOUT_SECS)
        return response.status, response.headers.get("Location")
    except urllib.error.HTTPError as answer:
        return answer.code, answer.headers.get("Location")


def check_sessions(args):
    created = stripe.checkout.Session.create(
        **session_params("42-1"), idempotency_key="order-42-1"
    )
    assert created.object == "checkout.session", created.object
    assert created.id.startswith("cs_test_"), created.id
    assert created.status == "open" and created.payment_status == "unpaid"
    assert created.amount_total == 4990 and created.currency == "eur"
    assert created.metadata["order_id"] == "42-1" and created.client_reference_id == "42-1"
    assert created.url.startswith(args.api_base + "/pay/"), created.url
    assert created.livemode is False
    step("Session.create")

    same = session_params("42-1", expires_at=created.expires_at)
    replayed = stripe.checkout.Session.create(**same, idempotency_key="order-42-1")
    assert replayed.id == created.id, (replayed.id, created.id)
    expect_error(
        stripe.IdempotencyError,
        lambda: stripe.checkout.Session.create(
            **session_params("42-2"), idempotency_key="order-42-1"
        ),
    )
    step("Session.create with an idempotency key: replayed, refused for other parameters")

    retrieved = stripe.checkout.Session.retrieve(created.id)
    assert retrieved.id == created.id and retrieved.status == "open"
    assert retrieved.to_dict() == created.to_dict()
    step("Session.retrieve")

    others = [stripe.checkout.Session.create(**session_params(f"43-{n}")) for n in range(3)]
    listing = stripe.checkout.Session.list(status="open", limit=1)
    paged = [session.id for session in listing.auto_paging_iter()]
    newest_first = [session.id for session in reversed(others)] + [created.id]
    assert paged == newest_first, (paged, newest_first)
    step("Session.list(status=open, limit=1).auto_paging_iter(): newest first")

    expiring = others[0]
    expired = stripe.checkout.Session.expire(expiring.id)
    assert expired.status == "expired" and expired.url is None, expired
    expect_error(
        stripe.InvalidRequestError,
        lambda: stripe.checkout.Session.expire(expiring.id),
        http_status=400,
    )
    still_open = stripe.checkout.Session.list(status="open").auto_paging_iter()
    open_ids = [session.id for session in still_open]
    assert expiring.id not in open_ids, open_ids
    step("Session.expire, and again refused")
    return created, expiring


def check_errors():
    expect_error(
        stripe.InvalidRequestError,
        lambda: stripe.checkout.Session.retrieve("cs_test_missing"),
        http_status=404,
        code="resource_missing",
    )
    without_mode = session_params("44-1")
    del without_mode["mode"]
    expect_error(
        stripe.InvalidRequestError,
        lambda: stripe.checkout.Session.create(**without_mode),
        http_status=400,
        param="mode",
        code="parameter_missing",
    )
    expect_error(
        stripe.InvalidRequestError,
        lambda: stripe.checkout.Session.create(
            **session_params("44-2", expires_at=int(time.time()) + 60)
        ),
        param="expires_at",
    )
    expect_error(
        stripe.AuthenticationError,
        lambda: stripe.checkout.Session.list(api_key="sk_test_not_the_sandbox_key"),
        http_status=401,
    )
    step("errors: InvalidRequestError (404; 400 with param, code), AuthenticationError (401)")


def check_payment_and_refunds(session):
    status, location = pay_on_page(session.url, "card")
    assert status == 303, status
    assert location == SUCCESS_URL.replace("{CHECKOUT_SESSION_ID}", session.id), location
    step("paid by card on the sandbox's page over HTTP (303 to the success URL)")

    paid = stripe.checkout.Session.retrieve(session.id)
    assert paid.status == "complete" and paid.payment_status == "paid", paid
    intent = stripe.PaymentIntent.retrieve(paid.payment_intent)
    assert intent.status == "succeeded" and intent.amount == 4990, intent
    step("Session.retrieve after paying: complete, paid; PaymentIntent.retrieve: succeeded")

    intent_id = paid.payment_intent
    refund = stripe.Refund.create(
        payment_intent=intent_id, amount=1000, idempotency_key="refund-42-1"
    )
    assert refund.object == "refund" and refund.status == "succeeded", refund
    assert refund.amount == 1000 and refund.payment_intent == intent_id
    again = stripe.Refund.create(
        payment_intent=intent_id, amount=1000, idempotency_key="refund-42-1"
    )
    assert again.id == refund.id, (again.id, refund.id)
    expect_error(
        stripe.InvalidRequestError,
        lambda: stripe.Refund.create(payment_intent=intent_id, amount=4000),
        http_status=400,
        code="amount_too_large",
    )
    rest = stripe.Refund.create(payment_intent=intent_id)
    assert rest.amount == 3990, rest.amount
    step("Refund.create: partial, replayed by key, refused past what was paid, the rest")


def recorded_webhooks(recorded_url):
    with urllib.request.urlopen(recorded_url, timeout=HTTP_TIMEOUT_SECS) as response:
        return json.load(response)


def await_webhooks(recorded_url, wanted):
    """Waits until the receiver has a webhook of each wanted (type, session id)."""
    deadline = time.monotonic() + WEBHOOK_WAIT_SECS
    while True:
        records = recorded_webhooks(recorded_url)
        events = [json.loads(record["payload"]) for record in records]
        seen = {(event["type"], event["data"]["object"]["id"]) for event in events}
        if wanted <= seen:
            return records
        if time.monotonic() > deadline:
            raise AssertionError(
                f"after {WEBHOOK_WAIT_SECS} s the receiver has {seen}, not all of {wanted}"
            )
        time.sleep(0.1)


def check_webhooks(args, paid, expired):
    wanted = {
        ("checkout.session.completed", paid.id),
        ("checkout.session.expired", expired.id),
    }
    records = await_webhooks(args.recorded_url, wanted)

    for record in records:
        event = stripe.Webhook.construct_event(
            record["payload"], record["signature"], args.webhook_secret
        )
        assert event.object == "event" and event.id.startswith("evt_"), event.id
        assert isinstance(event.data.object, stripe.checkout.Session), type(event.data.object)
    completed = next(
        stripe.Webhook.construct_event(r["payload"], r["signature"], args.webhook_secret)
        for r in records
        if json.loads(r["payload"])["type"] == "checkout.session.completed"
    )
    assert completed.data.object.payment_status == "paid"
    assert completed.data.object.metadata["order_id"] == "42-1"
    step(f"Webhook.construct_event accepts all {len(records)} webhooks")

    record = records[0]
    tampered = record["payload"].replace('"livemode":false', '"livemode":true', 1)
    assert tampered != record["payload"]
    expect_error(
        stripe.SignatureVerificationError,
        lambda: stripe.Webhook.construct_event(
            tampered, record["signature"], args.webhook_secret
        ),
    )
    expect_error(
        stripe.SignatureVerificationError,
        lambda: stripe.Webhook.construct_event(
            record["payload"], record["signature"], "whsec_other"
        ),
    )
    step("Webhook.construct_event refuses a tampered payload and another secret")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-base", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--webhook-secret", required=True)
    parser.add_argument("--recorded-url", required=True)
    args = parser.parse_args()

    stripe.api_key = args.secret_key
    stripe.api_base = args.api_base
    # Retries would hide the sandbox's first answers.
    stripe.max_network_retries = 0
    stripe.enable_telemetry = False
    print(f"stripe-python {stripe.VERSION} against {args.api_base}", flush=True)

    try:
        created, expired = check_sessions(args)
        check_errors()
        check_payment_and_refunds(created)
        check_webhooks(args, created, expired)
    except Exception:
        traceback.print_exc()
        return 1
    print("all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
