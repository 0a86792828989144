// Login merge: a guest fills a cart, logs in, and the login response must
// carry the user's cart with the guest's lines merged in (API.md, "Accounts
// and login merge"). Also checks that login rotates the session (the guest
// cookie no longer reaches it) and that logout ends it.
//
//   k6 run deploy/k6/login-merge.js                    # user demo / demo-password
//   k6 run -e USERNAME=alice -e PASSWORD=... -e ITERATIONS=50 deploy/k6/login-merge.js
//
// With one VU (the default) the check is exact: setup() and every iteration
// leave the user's cart empty, so after the merge each guest line must be in
// the user's cart with exactly the guest's quantity and frozen price. With
// VUS > 1 all VUs share one account and race each other (that is the point of
// running it so), so quantities are only checked to be at least the guest's
// (the merge rule "sum" never lowers a quantity) and the cart is not cleared.
//
// The server limits failed logins per username, so no wrong-password attempt
// is made against the real account; the 401 contract is checked with an
// account name that does not exist.

import { check, fail, group } from 'k6';
import http from 'k6/http';
import { BASE_URL, COOKIE_NAME, call, cents, loadCatalog, randomInt } from './lib.js';

const USERNAME = __ENV.USERNAME || 'demo';
const PASSWORD = __ENV.PASSWORD || 'demo-password';
const VUS = Number(__ENV.VUS || 1);
const EXACT = VUS === 1;

export const options = {
  scenarios: {
    merge: {
      executor: 'per-vu-iterations',
      vus: VUS,
      iterations: Number(__ENV.ITERATIONS || 20),
      maxDuration: __ENV.MAX_DURATION || '5m',
    },
  },
  thresholds: {
    checks: ['rate==1'],
    http_req_failed: ['rate==0'],
    // Login hashes the password with argon2id on purpose: expect it slower.
    'http_req_duration{name:POST /api/auth/login}': ['p(95)<1500'],
  },
};

function login() {
  return call('POST', '/api/auth/login', {
    body: { username: USERNAME, password: PASSWORD },
    verify: (b) => b.success === true && b.user && b.user.username === USERNAME && b.cart && Array.isArray(b.cart.items),
  });
}

export function setup() {
  const products = loadCatalog().map((p) => ({ id: p.id, price: p.price }));

  // Unknown user: 401 with the documented body (and no lockout of the real account).
  call('POST', '/api/auth/login', {
    body: { username: `k6-no-such-user-${Date.now()}`, password: 'wrong' },
    status: 401,
    verify: (b) => b.error === 'Invalid username or password',
  });

  // Start from an empty user cart so the first merge is exact.
  http.cookieJar().clear(BASE_URL);
  if (!login().ok) {
    fail(`cannot log in as ${USERNAME} at ${BASE_URL}: create the user (printf '%s' PASSWORD | trolley user add ${USERNAME})`);
  }
  if (EXACT) call('DELETE', '/api/cart', { verify: (b) => b.success === true });
  call('POST', '/api/auth/logout', { verify: (b) => b.success === true });
  return { products };
}

export default function ({ products }) {
  const jar = http.cookieJar();
  jar.clear(BASE_URL);

  // Two distinct products, one with quantity > 1, from the first 20 of the
  // catalog: with VUS > 1 the shared user cart then stays far below the line
  // limit however long the run (quantities cap at the maximum, lines do not).
  const pool = products.slice(0, 20);
  const first = pool[randomInt(0, pool.length - 1)];
  let second = pool[randomInt(0, pool.length - 1)];
  if (second.id === first.id) second = pool[(pool.indexOf(first) + 1) % pool.length];
  const guestLines = [
    { productId: first.id, quantity: 1, price: first.price },
    { productId: second.id, quantity: randomInt(2, 4), price: second.price },
  ];

  let guestCookie;
  group('guest fills a cart', () => {
    for (const line of guestLines) {
      call('POST', '/api/cart/add', {
        body: { productId: line.productId, quantity: line.quantity },
        verify: (b) => b.success === true && b.cartItem.quantity === line.quantity,
      });
    }
    call('GET', '/api/cart', { verify: (b) => b.itemCount === 2 && typeof b.cartId === 'string' });
    const cookies = jar.cookiesForURL(BASE_URL)[COOKIE_NAME];
    guestCookie = cookies && cookies[0];
    check(guestCookie, { 'guest has a session cookie': (c) => typeof c === 'string' && c.length > 0 });
  });

  group('login merges the guest cart', () => {
    const { body } = login();
    const cart = body && body.cart;
    check(cart, {
      'merged cart holds every guest line': (c) =>
        !!c &&
        guestLines.every((g) => {
          const line = c.items.find((i) => i.productId === g.productId);
          if (!line) return false;
          return EXACT
            ? line.quantity === g.quantity && cents(line.price) === cents(g.price)
            : line.quantity >= g.quantity;
        }),
      'merged cart has no other lines (exact mode)': (c) => !EXACT || (!!c && c.items.length === guestLines.length),
      'merged total is exact (exact mode)': (c) =>
        !EXACT || (!!c && cents(c.total) === guestLines.reduce((s, g) => s + cents(g.price) * g.quantity, 0)),
    });
    call('GET', '/api/auth/me', { verify: (b) => b.username === USERNAME });
    call('GET', '/api/cart', {
      verify: (b) => guestLines.every((g) => b.items.some((i) => i.productId === g.productId)),
    });
  });

  group('the guest session is gone', () => {
    // Replay the pre-login cookie from a separate jar: login rotated the
    // session id, so it must now read as a fresh guest with nothing in it.
    if (guestCookie) {
      const oldJar = new http.CookieJar();
      oldJar.set(BASE_URL, COOKIE_NAME, guestCookie);
      call('GET', '/api/cart', {
        name: 'GET /api/cart (old cookie)',
        params: { jar: oldJar },
        verify: (b) => b.cartId === null && b.items.length === 0,
      });
    }
  });

  group('logout', () => {
    if (EXACT) call('DELETE', '/api/cart', { verify: (b) => b.success === true });
    call('POST', '/api/auth/logout', { verify: (b) => b.success === true && b.message === 'Logged out' });
    call('GET', '/api/auth/me', { status: 401, verify: (b) => typeof b.error === 'string' });
  });
}
