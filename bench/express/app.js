// The comparison point of bench/README.md: a cart service as the Node ecosystem
// usually writes one (express + express-session + connect-redis, the cart kept in
// the session), answering the routes and fields the mixed workload uses.
// REDIS_URL (redis://127.0.0.1:6379), LISTEN port (7304).
const express = require("express");
const session = require("express-session");
const RedisStore = require("connect-redis").default;
const { createClient } = require("redis");

const PRICE = "9.99";

async function main() {
  const redis = createClient({ url: process.env.REDIS_URL || "redis://127.0.0.1:6379" });
  await redis.connect();
  const app = express();
  app.use(express.json());
  app.use(session({
    store: new RedisStore({ client: redis }),
    secret: "bench-only",
    resave: false,
    saveUninitialized: false,
    rolling: true,
    cookie: { httpOnly: true, sameSite: "lax", maxAge: 30 * 60 * 1000 },
  }));
  const view = (cart) => {
    const items = Object.values(cart.items);
    const total = items.reduce((sum, item) => sum + item.quantity * Number(item.unitPrice), 0);
    return { items, total: total.toFixed(2) };
  };
  app.get("/api/cart", (req, res) => res.json(view(req.session.cart || { items: {} })));
  app.post("/api/cart/add", (req, res) => {
    const { productId, quantity } = req.body || {};
    if (!Number.isInteger(productId) || !Number.isInteger(quantity) || quantity < 1) {
      return res.status(400).json({ error: "invalid_request" });
    }
    const cart = req.session.cart || (req.session.cart = { next: 1, items: {} });
    let item = Object.values(cart.items).find((line) => line.productId === productId);
    if (!item) {
      item = { id: cart.next++, productId, quantity: 0, unitPrice: PRICE };
      cart.items[item.id] = item;
    }
    item.quantity += quantity;
    res.json({ cartItem: item });
  });
  app.put("/api/cart/item/:id", (req, res) => {
    const item = req.session.cart && req.session.cart.items[req.params.id];
    const quantity = Number(req.query.quantity);
    if (!item) return res.status(404).json({ error: "not_found" });
    if (!Number.isInteger(quantity) || quantity < 1) return res.status(400).json({ error: "invalid_request" });
    item.quantity = quantity;
    res.json({ cartItem: item });
  });
  app.listen(Number(process.env.LISTEN || 7304), "127.0.0.1");
}

main();
