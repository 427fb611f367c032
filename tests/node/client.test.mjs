// The JS client's behaviour tests in Node (node --test), against tests/js_app.py.
// Node 22+ has a global WebSocket; Node 20 needs --experimental-websocket (test_js.py passes it).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import * as api from "../../trio_socketapi/js/socketapi.js";
import { tests } from "./shared/behaviour.mjs";
import { AppServer } from "./server.mjs";

const server = new AppServer("tests.js_app:app");
const clients = [];

before(() => server.start());
after(async () => {
  for (const client of clients) client.close();
  await server.stop();
});

function connect(options = {}) {
  const client = api.connect(server.url, { timeout: 3000, ...options });
  clients.push(client);
  return client;
}

for (const [name, run] of Object.entries(tests)) {
  test(name, { timeout: 30000 }, () => run({ connect, restart: () => server.restart(), api }));
}

test("a WebSocket implementation can be passed in", { timeout: 10000 }, async () => {
  let constructed = 0;
  class CountingWebSocket extends globalThis.WebSocket {
    constructor(...args) {
      super(...args);
      constructed += 1;
    }
  }
  const client = connect({ WebSocket: CountingWebSocket });
  assert.equal(await client.action("add", { a: 20, b: 22 }), 42);
  assert.equal(constructed, 1);
  client.close();
});

test("without any WebSocket, connect says what to pass", () => {
  assert.throws(() => api.connect(server.url, { WebSocket: 42, reconnect: false }), TypeError);
});

test("backoff grows to its ceiling, jitter only shortens it", () => {
  const policy = api.DEFAULT_RECONNECT;
  assert.equal(api.backoffDelay(policy, 1, 0), 500);
  assert.equal(api.backoffDelay(policy, 3, 0), 2000);
  assert.equal(api.backoffDelay(policy, 50, 0), 30000);
  assert.equal(api.backoffDelay(policy, 1, 0.999), 500 * (1 - 0.5 * 0.999));
});

test("it gives up after maxAttempts and rejects what waits", { timeout: 10000 }, async () => {
  const client = api.connect("ws://127.0.0.1:9/", {
    reconnect: { initialDelay: 10, maxDelay: 20, maxAttempts: 3 },
    timeout: 5000,
  });
  const error = await client.action("add", { a: 1 }).catch((e) => e);
  assert.ok(error instanceof api.ConnectionLostError, String(error));
  assert.match(error.message, /gave up after 3 attempts/);
  assert.ok(client.closed);
});
