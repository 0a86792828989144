// Concurrency: many VUs write to ONE cart at the same moment, through the load
// balancer (so through different replicas), and the cart must end up exactly
// as if the writes had happened one after another: no lost update, no double
// count, no torn line.
//
//   k6 run deploy/k6/concurrency.js
//   k6 run -e VUS=50 -e INCREMENTS=98 -e LINES=99 deploy/k6/concurrency.js
//
// Design. setup() creates the session (its first add creates the cart with
// product X, quantity 1) and hands the cookie to every VU. Two scenarios then
// run at once on that cart:
//   increments  INCREMENTS iterations, each adds product X with quantity 1:
//               concurrent increments of the SAME line;
//   lines       LINES iterations; iteration n adds catalog product n+1 with
//               quantity (n % 3) + 1: concurrent creation of DIFFERENT lines.
// teardown() must decide whether the final cart is right, but it cannot read
// metrics or anything the VUs saw. So the expected state is made a pure
// function of the plan: both scenarios are shared-iterations executors, which
// run exactly their iteration count, and each iteration's product and quantity
// derive from its iteration number. If every add answered 200 (the
// add_succeeded threshold demands it), the cart must hold exactly:
//   X with quantity 1 + INCREMENTS, first in the list (added first),
//   product n+1 with quantity (n % 3) + 1 for every n < LINES, nothing else,
//   itemCount = LINES + 1, total = sum of price x quantity to the cent.
// Should some adds fail anyway (the threshold then fails the run), teardown
// still checks what holds whatever failed: no line above its planned quantity
// (nothing double-counted) and every line present either exactly as planned or
// absent (no torn line); it reports missing quantity rather than guessing.
// Each VU also checks that the quantities it gets back for X strictly increase
// (a replica serving a stale line would break that).

import { check, fail } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import { Rate } from 'k6/metrics';
import { BASE_URL, COOKIE_NAME, call, cents, loadCatalog } from './lib.js';

const VUS = Number(__ENV.VUS || 20);
// X ends at 1 + INCREMENTS, which must stay within the per-line maximum (99).
const INCREMENTS = Math.min(Number(__ENV.INCREMENTS || 60), 98);
// LINES + 1 lines must stay within the per-cart maximum (100).
const LINES_WANTED = Math.min(Number(__ENV.LINES || 60), 99);

const addSucceeded = new Rate('add_succeeded');

export const options = {
  scenarios: {
    increments: { executor: 'shared-iterations', exec: 'increment', vus: VUS, iterations: INCREMENTS, maxDuration: '2m' },
    lines: { executor: 'shared-iterations', exec: 'addLine', vus: VUS, iterations: LINES_WANTED, maxDuration: '2m' },
  },
  thresholds: {
    add_succeeded: ['rate==1'],
    checks: ['rate==1'],
  },
};

function planFor(n, products) {
  return { product: products[n + 1], quantity: (n % 3) + 1 };
}

export function setup() {
  const products = loadCatalog().map((p) => ({ id: p.id, price: p.price }));
  if (products.length < LINES_WANTED + 1) {
    fail(`the catalog has ${products.length} products; LINES=${LINES_WANTED} needs ${LINES_WANTED + 1}`);
  }
  const jar = http.cookieJar();
  jar.clear(BASE_URL);
  const { ok } = call('POST', '/api/cart/add', {
    body: { productId: products[0].id, quantity: 1 },
    verify: (b) => b.success === true && b.cartItem.quantity === 1,
  });
  const cookie = (jar.cookiesForURL(BASE_URL)[COOKIE_NAME] || [])[0];
  if (!ok || !cookie) fail(`could not create the shared cart (no ${COOKIE_NAME} cookie from ${BASE_URL})`);
  return { cookie, products };
}

function useSharedCart(cookie) {
  http.cookieJar().set(BASE_URL, COOKIE_NAME, cookie);
}

// VU-local: the last quantity of X this VU saw.
let lastSeenX = 0;

export function increment({ cookie, products }) {
  useSharedCart(cookie);
  const x = products[0];
  const { body, ok } = call('POST', '/api/cart/add', {
    name: 'POST /api/cart/add (same line)',
    body: { productId: x.id, quantity: 1 },
    verify: (b) => b.success === true && b.cartItem.productId === x.id,
  });
  addSucceeded.add(ok);
  if (ok) {
    const quantity = body.cartItem.quantity;
    check(quantity, { 'X quantity only grows': (q) => q > lastSeenX && q <= 1 + INCREMENTS });
    lastSeenX = quantity;
  }
}

export function addLine({ cookie, products }) {
  useSharedCart(cookie);
  const { product, quantity } = planFor(exec.scenario.iterationInTest, products);
  const { ok } = call('POST', '/api/cart/add', {
    name: 'POST /api/cart/add (new line)',
    body: { productId: product.id, quantity },
    verify: (b) => b.success === true && b.cartItem.productId === product.id && b.cartItem.quantity === quantity,
  });
  addSucceeded.add(ok);
}

export function teardown({ cookie, products }) {
  useSharedCart(cookie);
  const { body: cart, ok } = call('GET', '/api/cart', { verify: (b) => Array.isArray(b.items) });
  if (!ok) fail('teardown: cannot read the shared cart');

  const planned = new Map([[products[0].id, 1 + INCREMENTS]]);
  for (let n = 0; n < LINES_WANTED; n += 1) {
    const { product, quantity } = planFor(n, products);
    planned.set(product.id, quantity);
  }
  const price = new Map(products.map((p) => [p.id, p.price]));
  const problems = [];
  let missingQuantity = 0;
  for (const line of cart.items) {
    const want = planned.get(line.productId);
    if (want === undefined) problems.push(`unexpected product ${line.productId}`);
    else if (line.quantity > want) problems.push(`product ${line.productId}: quantity ${line.quantity} > ${want} (double count)`);
    else if (line.productId !== products[0].id && line.quantity !== want) {
      problems.push(`product ${line.productId}: quantity ${line.quantity}, want ${want} (torn line)`);
    }
  }
  for (const [id, want] of planned) {
    const line = cart.items.find((i) => i.productId === id);
    missingQuantity += want - (line ? Math.min(line.quantity, want) : 0);
  }
  if (missingQuantity > 0) problems.push(`${missingQuantity} planned unit(s) missing (lost updates, or adds that failed)`);
  const ids = new Set(cart.items.map((i) => i.id));
  if (ids.size !== cart.items.length) problems.push('two lines share an id');
  if (cart.items.length === 0 || cart.items[0].productId !== products[0].id) problems.push('X is not the first line');
  if (cart.itemCount !== cart.items.length) problems.push(`itemCount ${cart.itemCount} != ${cart.items.length} lines`);
  const wantTotal = cart.items.reduce((sum, line) => sum + cents(price.get(line.productId)) * line.quantity, 0);
  if (cents(cart.total) !== wantTotal) problems.push(`total ${cart.total} != ${wantTotal / 100}`);

  check(problems, { 'teardown: the shared cart is exactly the planned one': (p) => p.length === 0 });
  if (problems.length > 0) {
    fail(`shared cart is wrong after ${INCREMENTS} increments and ${LINES_WANTED} new lines:\n  ${problems.join('\n  ')}`);
  }
  console.log(`shared cart OK: X=${1 + INCREMENTS}, ${LINES_WANTED} more lines, total ${cart.total}`);
  call('DELETE', '/api/cart', { verify: (b) => b.success === true });
}
