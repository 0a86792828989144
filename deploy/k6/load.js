// Load test: shoppers arrive at a ramping rate (open model: arrivals do not
// slow down when the service does, which is what exposes queueing), each with
// its own cookie jar, browse, add to cart, change and remove lines, and check
// every response. Thresholds make k6 exit non-zero when the service is too
// slow or fails too often.
//
//   k6 run deploy/k6/load.js
//   k6 run -e RATE=200 -e HOLD=5m -e P95_MS=100 deploy/k6/load.js
//
// Settings (environment): BASE_URL, RATE (peak visits/s, default 50),
// RAMP (30s), HOLD (1m), PRE_VUS (20), MAX_VUS (300), VISITS_PER_SESSION (5),
// THINK_MS (0: no pause between a shopper's requests), P95_MS (250), P99_MS (500),
// MAX_ERROR_RATE (0.01).

import { group, sleep } from 'k6';
import http from 'k6/http';
import { BASE_URL, call, cents, exactMoney, loadCatalog, randomInt } from './lib.js';

const RATE = Number(__ENV.RATE || 50);
const P95 = Number(__ENV.P95_MS || 250);
const P99 = Number(__ENV.P99_MS || 500);
const VISITS_PER_SESSION = Number(__ENV.VISITS_PER_SESSION || 5);
const THINK_MS = Number(__ENV.THINK_MS || 0);

export const options = {
  scenarios: {
    shoppers: {
      executor: 'ramping-arrival-rate',
      startRate: Math.max(1, Math.round(RATE / 10)),
      timeUnit: '1s',
      preAllocatedVUs: Number(__ENV.PRE_VUS || 20),
      maxVUs: Number(__ENV.MAX_VUS || 300),
      stages: [
        { target: RATE, duration: __ENV.RAMP || '30s' },
        { target: RATE, duration: __ENV.HOLD || '1m' },
        { target: 0, duration: '10s' },
      ],
    },
  },
  thresholds: {
    http_req_failed: [`rate<${Number(__ENV.MAX_ERROR_RATE || 0.01)}`],
    http_req_duration: [`p(95)<${P95}`, `p(99)<${P99}`],
    // Writes are the Redis-heavy path: hold them to the same bar on their own.
    'http_req_duration{name:POST /api/cart/add}': [`p(95)<${P95}`, `p(99)<${P99}`],
    checks: ['rate>0.99'],
    // Visits k6 could not start for lack of VUs: the load generator, not the
    // service, was the bottleneck, so the numbers above would flatter it.
    dropped_iterations: ['count<1'],
  },
};

export function setup() {
  // Only what a shopper needs: ids and prices (prices to check totals exactly).
  return { products: loadCatalog().map((p) => ({ id: p.id, price: p.price })) };
}

// VU-local: this VU's shopper and how many visits it has made with its session.
let visits = 0;

function think() {
  if (THINK_MS > 0) sleep((THINK_MS * (0.5 + Math.random())) / 1000);
}

export default function ({ products }) {
  // Each VU's default cookie jar holds its shopper's session. A shopper comes
  // back VISITS_PER_SESSION times (exercising the sliding session TTL and a
  // growing cart), then leaves: a fresh jar means a fresh guest.
  const jar = http.cookieJar();
  if (visits % VISITS_PER_SESSION === 0) jar.clear(BASE_URL);
  visits += 1;
  const lastVisit = visits % VISITS_PER_SESSION === 0;

  group('browse', () => {
    const offset = randomInt(0, Math.max(0, products.length - 20));
    call('GET', `/api/products?offset=${offset}&limit=20`, {
      name: 'GET /api/products',
      verify: (b) => Array.isArray(b.items) && b.items.length > 0 && b.total === products.length,
    });
    think();
    const product = products[randomInt(0, products.length - 1)];
    call('GET', `/api/products/${product.id}`, {
      name: 'GET /api/products/{id}',
      verify: (b) => b.id === product.id,
    });
    think();
  });

  const added = [];
  group('add to cart', () => {
    const lines = randomInt(1, 3);
    for (let i = 0; i < lines; i += 1) {
      const product = products[randomInt(0, products.length - 1)];
      const quantity = randomInt(1, 3);
      const { body } = call('POST', '/api/cart/add', {
        body: { productId: product.id, quantity },
        verify: (b) => b.success === true && b.cartItem.productId === product.id && b.cartItem.quantity >= quantity,
      });
      if (body && body.cartItem) added.push(body.cartItem);
      think();
    }
  });

  group('view and edit cart', () => {
    const priceOf = Object.fromEntries(products.map((p) => [p.id, p.price]));
    const { body: cart } = call('GET', '/api/cart', {
      verify: (b, res) =>
        typeof b.cartId === 'string' &&
        b.itemCount === b.items.length &&
        added.every((a) => b.items.some((line) => line.id === a.id)) &&
        // total = sum(frozen price x quantity), exact to the cent.
        cents(b.total) === b.items.reduce((sum, line) => sum + cents(line.price) * line.quantity, 0) &&
        b.items.every((line) => priceOf[line.productId] !== undefined) &&
        exactMoney(res.body),
    });
    think();

    // The minimal API sees the same cart under the same session.
    if (Math.random() < 0.2 && cart) {
      call('GET', '/cart', { verify: (b) => b.cart_id === cart.cartId && b.items.length === cart.items.length });
    }

    const line = added[0];
    if (line && Math.random() < 0.3) {
      const quantity = randomInt(1, 5);
      call('PUT', `/api/cart/item/${line.id}?quantity=${quantity}`, {
        name: 'PUT /api/cart/item/{id}',
        verify: (b) => b.success === true && b.cartItem.quantity === quantity,
      });
      think();
    }
    if (line && Math.random() < 0.2) {
      call('DELETE', `/api/cart/item/${line.id}`, {
        name: 'DELETE /api/cart/item/{id}',
        verify: (b) => b.success === true,
      });
      think();
    }
  });

  if (lastVisit) {
    // Leaving: empty the cart so Redis does not keep growing over a long run
    // (the TTL would expire it anyway, 30 minutes later).
    group('leave', () => {
      call('DELETE', '/api/cart', { verify: (b) => b.success === true });
    });
  }
}
