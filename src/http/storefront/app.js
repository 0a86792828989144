// The trolley storefront: a page over the public API (API.md), nothing more.
// It shows what the API answers: totals and prices are the API's own digits,
// never computed here. Every cart change carries an Idempotency-Key, and a
// retry after a network error sends the same key, so the change applies once.
"use strict";

const PAGE_SIZE = 12;
const NETWORK_TRIES = 3;
const MONEY = new Set(["total", "price", "productPrice"]);

const byId = (id) => document.getElementById(id);
const byTestId = (root, id) => root.querySelector(`[data-testid="${id}"]`);

let catalogOffset = 0;
let cartGeneration = 0;

// JSON with money kept as the API wrote it: a string of its exact digits
// (the reviver sees the source text where the browser supports it).
function parseJson(text) {
  return JSON.parse(text, (key, value, context) => {
    if (MONEY.has(key) && typeof value === "number") {
      return context && typeof context.source === "string" ? context.source : String(value);
    }
    return value;
  });
}

class NetworkError extends Error {}

// One API call. A change (`change: true`) carries a fresh Idempotency-Key, and
// when the request fails on the network (no answer at all) it is sent again
// with the same key: the API applies a key's change once and replays its answer.
async function api(method, path, { body, change = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (change) headers["Idempotency-Key"] = crypto.randomUUID();
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  for (let attempt = 1; ; attempt += 1) {
    try {
      response = await fetch(path, init);
      break;
    } catch (error) {
      if (!change || attempt >= NETWORK_TRIES) {
        throw new NetworkError("The network failed; nothing was confirmed. Try again.");
      }
      await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
    }
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? parseJson(text) : null;
  } catch {
    data = null;
  }
  return { ok: response.ok, status: response.status, data };
}

// The API's message: its `error`, or a field map's first message.
function messageOf(reply) {
  const data = reply.data;
  if (data && typeof data.error === "string") return data.error;
  if (data && typeof data === "object") {
    const first = Object.values(data).find((value) => typeof value === "string");
    if (first) return first;
  }
  return `The request failed (HTTP ${reply.status})`;
}

function showError(message) {
  const error = byId("error");
  error.textContent = message;
  error.hidden = false;
}

function clearError() {
  const error = byId("error");
  error.textContent = "";
  error.hidden = true;
}

function announce(message) {
  byId("status").textContent = message;
}

// Runs a change; on refusal shows the API's message. Either way the cart is
// read again, so the page shows what the API holds.
async function change(method, path, body, done) {
  try {
    const reply = await api(method, path, { body, change: true });
    if (reply.ok) {
      clearError();
      if (done) announce(done);
    } else {
      showError(messageOf(reply));
    }
  } catch (error) {
    showError(error.message);
  }
  await loadCart();
}

function element(tag, attributes = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---- catalog ----

async function loadCatalog() {
  let reply;
  try {
    reply = await api("GET", `/api/products?offset=${catalogOffset}&limit=${PAGE_SIZE}`);
  } catch (error) {
    showError(error.message);
    return;
  }
  if (!reply.ok) {
    showError(messageOf(reply));
    return;
  }
  const list = byId("products");
  list.replaceChildren(...reply.data.items.map(productCard));
  const count = Number(reply.data.total);
  const last = Math.min(catalogOffset + reply.data.items.length, count);
  byId("page-info").textContent = count
    ? `${catalogOffset + 1}–${last} of ${count}`
    : "No products";
  byId("previous-page").disabled = catalogOffset === 0;
  byId("next-page").disabled = last >= count;
}

function productCard(product) {
  const card = element("li", {
    class: "product",
    "data-testid": "product-card",
    "data-product-id": String(product.id),
  });
  const image = element("img", {
    src: product.image || `/images/products/${product.id}.jpg`,
    alt: "",
    width: "160",
    height: "120",
  });
  const name = element("h3", {}, product.name);
  const price = element("p", { class: "price" }, product.price);
  const add = element(
    "button",
    { type: "button", "data-testid": "add-to-cart", "aria-label": `Add ${product.name} to the cart` },
    "Add to cart",
  );
  add.addEventListener("click", () =>
    change("POST", "/api/cart/add", { productId: product.id, quantity: 1 }, `Added ${product.name}`),
  );
  card.append(image, name, price, add);
  return card;
}

// ---- cart ----

async function loadCart() {
  const generation = ++cartGeneration;
  let reply;
  try {
    reply = await api("GET", "/api/cart");
  } catch (error) {
    showError(error.message);
    return;
  }
  // An older read answering after a newer one must not undo it.
  if (generation !== cartGeneration) return;
  if (reply.ok) renderCart(reply.data);
  else showError(messageOf(reply));
}

function renderCart(cart) {
  // Re-rendering replaces the lines: keep the keyboard focus where it was.
  const active = document.activeElement;
  const activeLine = active && active.closest ? active.closest('[data-testid="cart-line"]') : null;
  const focus = activeLine && { line: activeLine.dataset.lineId, hook: active.dataset.testid };

  byId("cart-total").textContent = cart.total;
  byId("cart-count").textContent = String(cart.itemCount);
  byId("cart-empty").hidden = cart.items.length > 0;
  byId("clear-cart").disabled = cart.items.length === 0;
  byId("cart-lines").replaceChildren(...cart.items.map(cartLine));

  if (focus) {
    const line = document.querySelector(`[data-testid="cart-line"][data-line-id="${focus.line}"]`);
    const target = line && focus.hook ? byTestId(line, focus.hook) : null;
    (target || byId("cart-title")).focus();
  }
}

function cartLine(item) {
  const name = item.productName || `Product ${item.productId}`;
  const line = element("li", {
    class: "line",
    "data-testid": "cart-line",
    "data-line-id": String(item.id),
    "data-product-id": String(item.productId),
  });
  const image = element("img", {
    src: item.productImage || `/images/products/${item.productId}.jpg`,
    alt: "",
    width: "64",
    height: "48",
  });
  const details = element("div", { class: "details" });
  details.append(element("span", { class: "name" }, name), element("span", { class: "price" }, item.price));
  if (item.productPrice !== undefined && Number(item.productPrice) !== Number(item.price)) {
    details.append(
      element("span", { class: "badge", "data-testid": "price-changed" }, `Price changed: now ${item.productPrice}`),
    );
  }
  const quantityId = `quantity-${item.id}`;
  const label = element("label", { for: quantityId, class: "visually-hidden" }, `Quantity of ${name}`);
  const quantity = element("input", {
    id: quantityId,
    "data-testid": "line-quantity",
    type: "number",
    inputmode: "numeric",
    min: "1",
    step: "1",
    value: String(item.quantity),
  });
  const commit = () => setQuantity(quantity, item, name);
  quantity.addEventListener("change", commit);
  quantity.addEventListener("keydown", (event) => {
    if (event.key === "Enter") commit();
  });
  const remove = element(
    "button",
    { type: "button", "data-testid": "line-remove", "aria-label": `Remove ${name}` },
    "Remove",
  );
  remove.addEventListener("click", () =>
    change("DELETE", `/api/cart/item/${item.id}`, undefined, `Removed ${name}`),
  );
  line.append(image, details, label, quantity, remove);
  return line;
}

// Sets a line's quantity once per edit (Enter and then leaving the field is
// one edit); a refused value goes back to the line's quantity when the cart is
// read again.
function setQuantity(input, item, name) {
  const wanted = input.value.trim();
  if (input.dataset.busy || wanted === String(item.quantity)) return;
  input.dataset.busy = "1";
  const path = `/api/cart/item/${item.id}?quantity=${encodeURIComponent(wanted)}`;
  change("PUT", path, undefined, `Quantity of ${name} set to ${wanted}`).finally(() => {
    delete input.dataset.busy;
  });
}

// ---- account ----

function showUser(username) {
  const signedIn = byId("signed-in");
  byTestId(signedIn, "signed-in-as").textContent = username || "";
  signedIn.hidden = !username;
  byId("login-form").hidden = Boolean(username);
}

function mergeText(merge) {
  const list = (ids) => (ids.length ? ` (line ${ids.join(", ")})` : "");
  return (
    `Your guest cart was merged: ${merge.linesMoved} moved, ${merge.linesCombined} combined, ` +
    `${merge.clamped.length} clamped to the maximum${list(merge.clamped)}, ` +
    `${merge.dropped.length} dropped${list(merge.dropped)}.`
  );
}

async function login(event) {
  event.preventDefault();
  const username = byId("login-username").value.trim();
  const password = byId("login-password").value;
  let reply;
  try {
    reply = await api("POST", "/api/auth/login", { body: { username, password } });
  } catch (error) {
    showError(error.message);
    return;
  }
  if (!reply.ok) {
    showError(messageOf(reply));
    return;
  }
  clearError();
  byId("login-password").value = "";
  showUser(reply.data.user.username);
  const report = byId("merge-report");
  report.textContent = mergeText(reply.data.merge);
  report.hidden = false;
  cartGeneration += 1;
  renderCart(reply.data.cart);
  byTestId(document, "logout").focus();
}

async function logout() {
  try {
    const reply = await api("POST", "/api/auth/logout");
    if (!reply.ok) showError(messageOf(reply));
  } catch (error) {
    showError(error.message);
  }
  showUser(null);
  byId("merge-report").hidden = true;
  byId("login-username").focus();
  await loadCart();
}

async function loadUser() {
  try {
    const reply = await api("GET", "/api/auth/me");
    showUser(reply.ok ? reply.data.username : null);
  } catch (error) {
    showError(error.message);
  }
}

// ---- start ----

function start() {
  byId("login-form").addEventListener("submit", login);
  byTestId(document, "logout").addEventListener("click", logout);
  byId("clear-cart").addEventListener("click", () =>
    change("DELETE", "/api/cart", undefined, "Cart cleared"),
  );
  byId("previous-page").addEventListener("click", () => {
    catalogOffset = Math.max(0, catalogOffset - PAGE_SIZE);
    loadCatalog();
  });
  byId("next-page").addEventListener("click", () => {
    catalogOffset += PAGE_SIZE;
    loadCatalog();
  });
  // A change made in another tab, or through another replica, shows up when
  // the shopper comes back to this one.
  window.addEventListener("focus", loadCart);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") loadCart();
  });
  loadUser();
  loadCatalog();
  loadCart();
}

start();
