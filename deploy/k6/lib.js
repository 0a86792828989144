// Shared helpers for the trolley k6 scripts (smoke, load, login-merge,
// concurrency). Every request goes through `call`, so every response is
// checked: its status, that the body is JSON, and a script-specific predicate.

import http from 'k6/http';
import { check, fail } from 'k6';

export const BASE_URL = (__ENV.BASE_URL || 'http://localhost:9080').replace(/\/+$/, '');
export const COOKIE_NAME = __ENV.COOKIE_NAME || 'trolley_session';

const JSON_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json' };

/**
 * One request with checks. `name` groups URLs with ids into one metric series
 * (tag `name`), `status` is the expected status, which also tells k6 that
 * this status is not a failure for http_req_failed (e.g. an expected 404).
 * `verify(body, res)` returns true when the parsed JSON body is right.
 * Returns { res, body, ok }.
 */
export function call(method, path, { body, name, status = 200, verify, params = {} } = {}) {
  const res = http.request(method, `${BASE_URL}${path}`, body === undefined ? null : JSON.stringify(body), {
    ...params,
    headers: { ...JSON_HEADERS, ...(params.headers || {}) },
    tags: { name: name || `${method} ${path}`, ...(params.tags || {}) },
    responseCallback: http.expectedStatuses(status),
  });
  let parsed = null;
  try {
    parsed = res.json();
  } catch (_) {
    parsed = undefined;
  }
  const label = name || `${method} ${path}`;
  const ok = check(res, {
    [`${label}: status ${status}`]: (r) => r.status === status,
    [`${label}: JSON body`]: () => parsed !== undefined,
    ...(verify ? { [`${label}: body`]: () => parsed !== undefined && verify(parsed, res) === true } : {}),
  });
  return { res, body: parsed, ok };
}

/** The catalog, read once in setup(): [{id, sku, price, ...}]. */
export function loadCatalog() {
  const { body, ok } = call('GET', '/api/products?offset=0&limit=200', {
    name: 'GET /api/products',
    verify: (b) => Array.isArray(b.items) && b.items.length > 0,
  });
  if (!ok) {
    fail(`cannot read the catalog from ${BASE_URL}/api/products: is trolley up and the demo catalog imported?`);
  }
  return body.items;
}

/** Money compared in cents: JSON numbers like 299.98 must be exact decimals. */
export function cents(amount) {
  return Math.round(Number(amount) * 100);
}

/** True when every number after "total"/"price" keys in the raw body has at most two decimals. */
export function exactMoney(raw) {
  const re = /"(total|price|productPrice)"\s*:\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)/g;
  let m;
  while ((m = re.exec(raw)) !== null) {
    if (!/^-?\d+(\.\d{1,2})?$/.test(m[2])) return false;
  }
  return true;
}

export function randomInt(min, max) {
  return Math.floor(Math.random() * (max - min + 1)) + min;
}
