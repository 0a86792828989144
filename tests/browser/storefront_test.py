#!/usr/bin/env python3
"""The storefront (API.md v1.2 "Storefront") driven in a real headless Chromium
(Debian's /usr/bin/chromium through Playwright; no browser is downloaded)
against two trolley replicas on one Redis. Run by .ci/browser.sh, which starts
Redis and the replicas and sets:

  TROLLEY_BIN   the binary (for `catalog import`)
  REDIS_URL     the replicas' Redis
  REPLICA1, REPLICA2   http://127.0.0.1:PORT of each replica
  SHOPPER, SHOPPER_PASSWORD   an account created with `trolley user add`
  ARTIFACTS     where the screenshots go

The checks run in order (the last one stops Redis). Every page is watched: each request must stay on the page's origin, each cart
change (POST/PUT/DELETE /api/cart…) must carry an Idempotency-Key, no CSP
violation may happen, and the only console errors allowed are Chromium's
"Failed to load resource" lines for answers the test provokes on purpose: a
guest's 401 from GET /api/auth/me (one per page load) and the 400 of a refused
quantity. Prints one line per check and `browser: N passed, M failed`.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import expect, sync_playwright

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
R1, R2 = os.environ["REPLICA1"], os.environ["REPLICA2"]
ARTIFACTS = Path(os.environ.get("ARTIFACTS", "target/artifacts"))
SHOPPER, PASSWORD = os.environ["SHOPPER"], os.environ["SHOPPER_PASSWORD"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Console errors the test provokes on purpose: (status, path pattern).
EXPECTED_FAILURES = [(401, re.compile(r"/api/auth/me$")), (400, re.compile(r"/api/cart/item/\d+"))]
CSP_WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def origin(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Watched:
    """A page and what it did: requests, console errors, CSP violations."""

    def __init__(self, context, base, path="/"):
        self.page = context.new_page()
        self.base = base
        self.requests, self.errors = [], []
        self.page.on("request", lambda r: self.requests.append(r))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m))
        self.page.on("pageerror", lambda e: self.errors.append(e))
        self.page.goto(base + path)

    def testid(self, name):
        return self.page.get_by_test_id(name)

    def line(self, product_id):
        return self.page.locator(f'[data-testid="cart-line"][data-product-id="{product_id}"]')

    def card(self, product_id):
        return self.page.locator(f'[data-testid="product-card"][data-product-id="{product_id}"]')

    def check_clean(self, guest_loads=1):
        """Same-origin requests only, keyed changes, no CSP violation, only the
        provoked console errors (one guest 401 per guest load: seeing it proves the watch works)."""
        foreign = [r.url for r in self.requests
                   if not r.url.startswith("data:") and origin(r.url) != self.base]
        assert not foreign, f"requests left the origin: {foreign}"
        changes = [r for r in self.requests
                   if r.method in ("POST", "PUT", "DELETE") and "/api/cart" in r.url]
        unkeyed = [f"{r.method} {r.url}" for r in changes if not r.headers.get("idempotency-key")]
        assert not unkeyed, f"changes without an Idempotency-Key: {unkeyed}"
        violations = self.page.evaluate("window.__csp")
        assert not violations, f"CSP violations: {violations}"
        unexpected, guest_401s = [], 0
        for error in self.errors:
            text = getattr(error, "text", str(error))
            url = getattr(error, "location", {}).get("url", "") if hasattr(error, "location") else ""
            status = re.search(r"status of (\d{3})", text)
            allowed = status and any(int(status.group(1)) == code and pattern.search(url)
                                     for code, pattern in EXPECTED_FAILURES)
            if allowed and int(status.group(1)) == 401:
                guest_401s += 1
            if not allowed:
                unexpected.append(f"{text} ({url})")
        assert not unexpected, f"console errors: {unexpected}"
        assert guest_401s == guest_loads, f"{guest_401s} guest 401s for {guest_loads} guest loads"
        return len(changes)


def api_total(context, base):
    """The cart's total exactly as the API writes it (the raw JSON token)."""
    text = context.request.get(base + "/api/cart").text()
    return re.search(r'"total":\s*([-0-9.eE+]+)', text).group(1)


def cart_quantities(context, base):
    cart = context.request.get(base + "/api/cart").json()
    return {item["productId"]: item["quantity"] for item in cart["items"]}


def new_context(browser, viewport):
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(10_000)
    context.add_init_script(CSP_WATCH)
    return context


class Run:
    def __init__(self, browser):
        self.browser = browser
        self.alice = new_context(browser, DESKTOP)  # shopper A, a guest
        self.a1 = self.a2 = None

    # ---- the checks, in order ----

    def a_guest_adds_on_replica_1_and_sees_the_api_total(self):
        self.a1 = Watched(self.alice, R1)
        expect(self.a1.page.get_by_test_id("product-card")).to_have_count(12)
        self.a1.card(1).get_by_test_id("add-to-cart").click()
        expect(self.a1.testid("cart-count")).to_have_text("1")
        # With the keyboard alone: focus the button, press Enter.
        self.a1.card(4).get_by_test_id("add-to-cart").focus()
        self.a1.page.keyboard.press("Enter")
        expect(self.a1.testid("cart-count")).to_have_text("2")
        expect(self.a1.testid("cart-total")).to_have_text(api_total(self.alice, R1))
        expect(self.a1.testid("cart-total")).to_have_text("30.89")

    def the_same_cookie_on_replica_2_sees_the_lines(self):
        # Cookies are per host, not per port: 127.0.0.1:R2 gets the same cookie.
        self.a2 = Watched(self.alice, R2)
        expect(self.a2.line(1)).to_have_count(1)
        expect(self.a2.line(4)).to_have_count(1)
        expect(self.a2.testid("cart-total")).to_have_text("30.89")

    def a_quantity_change_shows_the_api_total(self):
        quantity = self.a2.line(4).get_by_test_id("line-quantity")
        quantity.fill("3")
        quantity.press("Enter")
        expect(self.a2.testid("cart-total")).to_have_text("91.67")
        assert api_total(self.alice, R2) == "91.67"
        expect(self.a2.line(4).get_by_test_id("line-quantity")).to_have_value("3")

    def a_refused_change_shows_the_api_message_and_keeps_the_quantity(self):
        quantity = self.a2.line(4).get_by_test_id("line-quantity")
        quantity.fill("100")
        quantity.press("Enter")
        expect(self.a2.testid("error")).to_have_text("Quantity must be at most 99")
        expect(self.a2.line(4).get_by_test_id("line-quantity")).to_have_value("3")
        expect(self.a2.testid("cart-total")).to_have_text("91.67")
        assert cart_quantities(self.alice, R2) == {1: 1, 4: 3}

    def replica_1_shows_the_change_when_it_regains_focus(self):
        expect(self.a1.line(4).get_by_test_id("line-quantity")).to_have_value("1")
        self.a1.page.bring_to_front()
        self.a1.page.evaluate("window.dispatchEvent(new Event('focus'))")
        expect(self.a1.line(4).get_by_test_id("line-quantity")).to_have_value("3")
        expect(self.a1.testid("cart-total")).to_have_text("91.67")

    def two_browser_contexts_are_two_shoppers(self):
        self.bob = new_context(self.browser, PHONE)  # shopper B, on a phone
        self.b = Watched(self.bob, R1)
        expect(self.b.page.get_by_test_id("product-card")).to_have_count(12)
        expect(self.b.testid("cart-count")).to_have_text("0")
        expect(self.b.testid("cart-total")).to_have_text("0")
        self.b.card(2).get_by_test_id("add-to-cart").click()
        expect(self.b.testid("cart-count")).to_have_text("1")
        self.b.card(1).get_by_test_id("add-to-cart").click()
        expect(self.b.testid("cart-count")).to_have_text("2")
        assert cart_quantities(self.bob, R1) == {2: 1, 1: 1}
        assert cart_quantities(self.alice, R1) == {1: 1, 4: 3}
        self.a1.page.evaluate("window.dispatchEvent(new Event('focus'))")
        expect(self.a1.page.get_by_test_id("cart-line")).to_have_count(2)
        expect(self.a1.line(2)).to_have_count(0)

    def a_login_after_guest_adds_shows_the_merge_report(self):
        # The shopper's own cart already holds one apple (added signed in, elsewhere).
        setup = self.browser.new_context()
        request = setup.request
        assert request.post(R2 + "/api/auth/login",
                            data={"username": SHOPPER, "password": PASSWORD}).ok
        assert request.post(R2 + "/api/cart/add", data={"productId": 1, "quantity": 1},
                            headers={"Idempotency-Key": "setup-apple"}).ok
        assert request.post(R2 + "/api/auth/logout").ok
        setup.close()
        expect(self.b.testid("signed-in-as")).to_be_hidden()
        self.b.testid("login-username").fill(SHOPPER)
        self.b.testid("login-password").fill(PASSWORD)
        self.b.testid("login-submit").click()
        expect(self.b.testid("signed-in-as")).to_have_text(SHOPPER)
        report = self.b.testid("merge-report")
        expect(report).to_be_visible()
        expect(report).to_contain_text("1 moved, 1 combined, 0 clamped")
        expect(report).to_contain_text("0 dropped")
        expect(self.b.line(1).get_by_test_id("line-quantity")).to_have_value("2")
        expect(self.b.testid("cart-total")).to_have_text(api_total(self.bob, R1))
        expect(self.b.testid("cart-total")).to_have_text("1.25")

    def the_page_fits_a_phone(self):
        width = self.b.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"scrollWidth {width} > 390"
        self.b.page.screenshot(path=str(ARTIFACTS / "storefront-phone.png"), full_page=True)

    def sign_out_leaves_a_guest_with_an_empty_cart(self):
        self.b.testid("logout").click()
        expect(self.b.testid("signed-in-as")).to_be_hidden()
        expect(self.b.testid("merge-report")).to_be_hidden()
        expect(self.b.testid("cart-count")).to_have_text("0")
        expect(self.b.testid("cart-total")).to_have_text("0")
        self.b.check_clean()

    def a_changed_price_shows_a_badge_and_the_frozen_total(self):
        catalog = json.loads(Path("deploy/catalog/demo-catalog.json").read_text())
        for product in catalog:
            if product["id"] == 1:
                product["price"] = 0.55
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
            json.dump(catalog, file)
        env = dict(os.environ, TROLLEY_REDIS_URL=os.environ["REDIS_URL"])
        subprocess.run([os.environ["TROLLEY_BIN"], "catalog", "import", file.name],
                       env=env, check=True, capture_output=True)
        os.unlink(file.name)
        # Replicas revalidate their catalog copy every TROLLEY_CATALOG_REFRESH (2 s).
        badge = self.a1.line(1).get_by_test_id("price-changed")
        for _ in range(40):
            self.a1.page.evaluate("window.dispatchEvent(new Event('focus'))")
            self.a1.page.wait_for_timeout(250)
            if badge.count():
                break
        expect(badge).to_be_visible()
        expect(badge).to_contain_text("0.55")
        expect(self.a1.line(4).get_by_test_id("price-changed")).to_have_count(0)
        expect(self.a1.testid("cart-total")).to_have_text("91.67")
        self.a1.page.screenshot(path=str(ARTIFACTS / "storefront-desktop.png"), full_page=True)

    def replica_pages_sent_keyed_changes_only_and_stayed_clean(self):
        changes = self.a1.check_clean() + self.a2.check_clean()
        assert changes >= 3, f"{changes} changes seen"

    def a_retry_after_a_network_error_reuses_the_idempotency_key(self):
        context = new_context(self.browser, DESKTOP)
        keys = []

        def flaky(route):
            keys.append(route.request.headers.get("idempotency-key"))
            if len(keys) == 1:
                route.abort("internetdisconnected")
            else:
                route.continue_()

        context.route("**/api/cart/add", flaky)
        page = Watched(context, R1)
        page.card(3).get_by_test_id("add-to-cart").click()
        expect(page.testid("cart-count")).to_have_text("1")
        assert len(keys) == 2 and keys[0] and keys[0] == keys[1], keys
        assert cart_quantities(context, R1) == {3: 1}
        context.close()

    def the_api_docs_render_under_the_csp(self):
        context = new_context(self.browser, DESKTOP)
        docs = Watched(context, R1, "/api/docs")
        expect(docs.page.locator(".opblock").first).to_be_visible()
        assert docs.page.locator(".opblock").count() >= 13
        docs.page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
        docs.check_clean(guest_loads=0)
        context.close()

    def a_full_cart_shows_the_api_message_and_paging_reaches_every_product(self):
        context = new_context(self.browser, DESKTOP)
        for product_id in range(1, 101):
            assert context.request.post(R1 + "/api/cart/add",
                                        data={"productId": product_id, "quantity": 1},
                                        headers={"Idempotency-Key": f"fill-{product_id}"}).ok
        page = Watched(context, R2)
        expect(page.testid("cart-count")).to_have_text("100")
        for _ in range(8):  # 12 a page: product 101 is on page 9
            page.page.get_by_role("button", name="Next").click()
        page.card(101).get_by_test_id("add-to-cart").click()
        expect(page.testid("error")).to_have_text("Cart is full (100 lines)")
        expect(page.testid("cart-count")).to_have_text("100")
        context.close()

    def with_redis_away_the_page_shows_the_api_message(self):
        port = urlsplit(os.environ["REDIS_URL"]).port
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)
        self.a1.card(5).get_by_test_id("add-to-cart").click()
        expect(self.a1.testid("error")).to_have_text("Cart storage unavailable")
        expect(self.a1.testid("cart-count")).to_have_text("2")


def main():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    passed = failed = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS)
        run = Run(browser)
        checks = [name for name in Run.__dict__ if not name.startswith("_") and
                  callable(getattr(Run, name))]
        for name in checks:
            try:
                getattr(run, name)()
                passed += 1
                print(f"ok      {name}", flush=True)
            except Exception:  # noqa: BLE001 - every failure is reported, then counted
                failed += 1
                print(f"FAILED  {name}", flush=True)
                traceback.print_exc()
                if run.a1:
                    run.a1.page.screenshot(path=str(ARTIFACTS / f"failed-{name}.png"))
        browser.close()
    print(f"browser: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
