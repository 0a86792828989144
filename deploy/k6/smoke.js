// Smoke test: one shopper walks the whole public contract once, through the
// load balancer. Fails (exit code 99) on any failed check or unexpected status.
//
//   k6 run deploy/k6/smoke.js                          # BASE_URL=http://localhost:9080
//   k6 run -e BASE_URL=https://shop.example.com deploy/k6/smoke.js

import { check, group } from 'k6';
import http from 'k6/http';
import { BASE_URL, call, cents, exactMoney, loadCatalog } from './lib.js';

export const options = {
  vus: 1,
  iterations: 1,
  thresholds: {
    checks: ['rate==1'],
    http_req_failed: ['rate==0'],
  },
};

export function setup() {
  const products = loadCatalog();
  const byId = Object.fromEntries(products.map((p) => [p.id, p]));
  // The demo catalog's documented products (API.md, "Catalog").
  const headset = byId[42];
  if (!headset || !products.some((p) => p.sku === 'apple')) {
    throw new Error('the demo catalog (product 42, sku "apple") is not loaded');
  }
  return { headset };
}

export default function ({ headset }) {
  http.cookieJar().clear(BASE_URL);

  group('guest with no session', () => {
    call('GET', '/api/cart', {
      verify: (b) => b.cartId === null && b.items.length === 0 && b.itemCount === 0 && b.total === 0,
    });
    call('GET', '/cart', { verify: (b) => b.cart_id === null && b.items.length === 0 });
  });

  let cartId;
  let lineId;
  group('add, read, update, remove', () => {
    const added = call('POST', '/api/cart/add', {
      body: { productId: headset.id, quantity: 2 },
      verify: (b) => b.success === true && b.cartItem.productId === headset.id && b.cartItem.quantity === 2,
    });
    lineId = added.body && added.body.cartItem && added.body.cartItem.id;

    // Adding the same product again increments the same line; price stays frozen.
    call('POST', '/api/cart/add', {
      body: { productId: headset.id, quantity: 1 },
      verify: (b) => b.cartItem.id === lineId && b.cartItem.quantity === 3 && b.cartItem.price === headset.price,
    });

    const cart = call('GET', '/api/cart', {
      verify: (b, res) =>
        typeof b.cartId === 'string' &&
        b.itemCount === 1 &&
        b.items[0].id === lineId &&
        b.items[0].quantity === 3 &&
        cents(b.total) === 3 * cents(headset.price) &&
        exactMoney(res.body),
    });
    cartId = cart.body && cart.body.cartId;

    call('PUT', `/api/cart/item/${lineId}?quantity=5`, {
      name: 'PUT /api/cart/item/{id}',
      verify: (b) => b.success === true && b.cartItem.quantity === 5,
    });
  });

  group('minimal API shares the cart', () => {
    call('POST', '/cart/items', {
      body: { sku: 'apple' },
      verify: (b) => b.cart_id === cartId && b.items.some((i) => i.sku === 'apple' && i.quantity === 1),
    });
    call('GET', '/cart', { verify: (b) => b.cart_id === cartId && b.items.length === 2 });
    call('GET', '/api/cart', { verify: (b) => b.cartId === cartId && b.itemCount === 2 });
  });

  group('errors are JSON with the documented bodies', () => {
    call('POST', '/api/cart/add', {
      body: { productId: 999999, quantity: 1 },
      status: 404,
      verify: (b) => b.error === 'Product not found: 999999',
    });
    call('POST', '/api/cart/add', {
      body: { productId: headset.id, quantity: 0 },
      status: 400,
      verify: (b) => b.quantity === 'Quantity must be at least 1',
    });
    call('POST', '/api/cart/add', {
      body: {},
      status: 400,
      verify: (b) => b.productId === 'Product ID is required' && b.quantity === 'Quantity is required',
    });
    call('PUT', `/api/cart/item/${lineId}?quantity=0`, {
      name: 'PUT /api/cart/item/{id}',
      status: 400,
      verify: (b) => b.error === 'Quantity must be at least 1',
    });
    call('DELETE', '/api/cart/item/999999999', {
      name: 'DELETE /api/cart/item/{id}',
      status: 404,
      verify: (b) => typeof b.error === 'string',
    });
    call('POST', '/cart/items', { body: { sku: 'kiwi-does-not-exist' }, status: 404, verify: (b) => typeof b.error === 'string' });
    call('GET', '/api/no-such-route', { status: 404, verify: (b) => typeof b.error === 'string' });
  });

  group('remove and clear', () => {
    call('DELETE', `/api/cart/item/${lineId}`, {
      name: 'DELETE /api/cart/item/{id}',
      verify: (b) => b.success === true,
    });
    call('DELETE', '/api/cart', { verify: (b) => b.success === true });
    const after = call('GET', '/api/cart', { verify: (b) => b.items.length === 0 && b.total === 0 });
    check(after.body, { 'cart id is stable for the session': (b) => !b || b.cartId === null || b.cartId === cartId });
  });
}
