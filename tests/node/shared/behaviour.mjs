// The JS client's behaviour tests, run both in Node (client.test.mjs) and in Chromium
// (browser.mjs) against tests/js_app.py. Each test gets
//   connect(options)  a client of the test server (the environment's WebSocket),
//   restart()         stops the server and starts it again on the same port,
// and the client module itself (its error classes). Every wait is bounded by a timeout.

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

function equal(actual, expected, message) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  assert(a === e, `${message}: ${a} !== ${e}`);
}

async function rejects(promise, ErrorClass, message) {
  try {
    await promise;
  } catch (error) {
    assert(error instanceof ErrorClass, `${message}: got ${error && error.name}: ${error}`);
    return error;
  }
  throw new Error(`assertion failed: ${message}: did not reject`);
}

/** A queue of values an onData callback receives; next() waits for one, at most `ms`. */
function inbox(ms = 3000) {
  const items = [];
  const waiters = [];
  return {
    push(value) {
      const waiter = waiters.shift();
      if (waiter) waiter(value);
      else items.push(value);
    },
    next() {
      if (items.length) return Promise.resolve(items.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`nothing arrived in ${ms} ms`)), ms);
        waiters.push((value) => {
          clearTimeout(timer);
          resolve(value);
        });
      });
    },
    get length() {
      return items.length;
    },
  };
}

function once(client, event, ms = 8000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" in ${ms} ms`)), ms);
    const off = client.on(event, (detail) => {
      clearTimeout(timer);
      off();
      resolve(detail);
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const tests = {
  async "ids: many actions in flight get their own replies"({ connect }) {
    const client = connect();
    const start = Date.now();
    const results = await Promise.all([
      client.action("slow", { ms: 300, value: "third" }),
      client.action("slow", { ms: 100, value: "first" }),
      client.action("slow", { ms: 200, value: "second" }),
      client.action("add", { a: 1, b: 2 }),
    ]);
    equal(results, ["third", "first", "second", 3], "each reply matched by id");
    assert(Date.now() - start < 550, "concurrent, not one after another");
    client.close();
  },

  async "errors: an error frame rejects with ActionError, message and errors"({ connect, api }) {
    const client = connect();
    const invalid = await rejects(client.action("add", { a: "x" }), api.ActionError, "invalid");
    equal(invalid.message, "Invalid parameters for action 'add'", "message");
    equal(invalid.errors.map((e) => e.loc), [["a"]], "pydantic's errors");
    equal(invalid.channel, "add", "channel");
    const raised = await rejects(client.action("fail", { reason: "stock" }), api.ActionError, "raise");
    equal([raised.message, raised.errors], ["cannot: stock", null], "handler error");
    await rejects(client.action("nope"), api.ActionError, "unknown action");
    equal(await client.action("add", { a: 5 }), 5, "still usable");
    client.close();
  },

  async "timeouts: no reply in time rejects with TimeoutError; a late reply is dropped"({ connect, api }) {
    const client = connect({ timeout: 2000 });
    await rejects(client.action("slow", { ms: 400, value: "late" }, { timeout: 100 }), api.TimeoutError, "timeout");
    client.timeout = 150;
    await rejects(client.action("slow", { ms: 400, value: "late" }), api.TimeoutError, "client timeout");
    client.timeout = 2000;
    await sleep(400); // the late replies arrive and are ignored
    equal(await client.action("add", { a: 2, b: 2 }), 4, "the next reply is its own");
    client.close();
  },

  async "subscriptions: each room gets only its own data; unsubscribe stops it"({ connect }) {
    const client = connect();
    const a = inbox();
    const b = inbox();
    const subA = client.subscribe("room", { name: "a" }, (data) => a.push(data));
    const subB = client.subscribe("room", { name: "b" }, (data) => b.push(data));
    await Promise.all([subA.ready, subB.ready]);
    equal(await a.next(), "a: welcome", "default response a");
    equal(await b.next(), "b: welcome", "default response b");
    await client.action("say", { name: "a", text: "hi a" });
    await client.action("say", { name: "b", text: "hi b" });
    equal(await a.next(), "a: hi a", "room a");
    equal(await b.next(), "b: hi b", "room b");
    subA.unsubscribe();
    await client.action("say", { name: "a", text: "gone" });
    await client.action("say", { name: "b", text: "still" });
    equal(await b.next(), "b: still", "room b still subscribed");
    equal(a.length, 0, "nothing after unsubscribe");
    client.close();
  },

  async "a refused subscribe rejects ready with ActionError"({ connect, api }) {
    const client = connect();
    const events = [];
    client.on("error", ({ channel }) => events.push(channel));
    const missing = client.subscribe("nope", {});
    await rejects(missing.ready, api.ActionError, "unknown channel");
    const invalid = client.subscribe("room", {});
    const error = await rejects(invalid.ready, api.ActionError, "missing key");
    assert(error.errors !== null, "pydantic's errors sent");
    equal(events, ["nope", "room"], "error events");
    client.close();
  },

  async "a closed client rejects with ClientClosedError"({ connect, api }) {
    const client = connect();
    const closed = once(client, "close");
    equal(await client.action("add", { a: 1 }), 1, "open");
    client.close();
    await rejects(client.action("add", { a: 1 }), api.ClientClosedError, "after close");
    equal((await closed).willReconnect, false, "the user's close does not reconnect");
    assert(client.closed, "closed");
  },

  async "reconnect: after a restart it reconnects, resubscribes; in-flight actions reject"({ connect, restart, api }) {
    const client = connect({ reconnect: { initialDelay: 50, maxDelay: 300, maxAttempts: 60 } });
    const room = inbox(8000);
    const sub = client.subscribe("room", { name: "r" }, (data) => room.push(data));
    await sub.ready;
    equal(await room.next(), "r: welcome", "subscribed");
    const closed = once(client, "close");
    const reconnected = once(client, "reconnect", 15000);
    const inFlight = client.action("slow", { ms: 5000, value: "never" });
    const lost = rejects(inFlight, api.ConnectionLostError, "in flight at the drop");
    await restart();
    const close = await closed;
    assert(close.willReconnect, "the drop reconnects");
    await lost;
    const { resubscribed } = await reconnected;
    equal(resubscribed, 1, "one subscription renewed");
    equal(await room.next(), "r: welcome", "subscribed again");
    await client.action("say", { name: "r", text: "back" });
    equal(await room.next(), "r: back", "live again");
    equal(client.reconnects, 1, "counted");
    client.close();
  },

  async "history: a drop recovers what was missed; a restart is reported not recovered"({ connect, restart }) {
    const client = connect({ reconnect: { initialDelay: 1000, maxDelay: 1000, jitter: 0, maxAttempts: 60 } });
    const other = connect();
    const feed = inbox(8000);
    const sub = client.subscribe("log", { name: "h" }, (data) => feed.push(data), {
      onNotRecovered: () => feed.push("NOT RECOVERED"),
    });
    await sub.ready;
    await other.action("log_say", { name: "h", text: "m1" });
    equal(await feed.next(), "m1", "live");
    const closed = once(client, "close");
    let reconnected = once(client, "reconnect", 15000);
    client._ws.close(4000); // the socket goes away under the client; the server keeps history
    await closed;
    await other.action("log_say", { name: "h", text: "m2" }); // while the client is away
    await other.action("log_say", { name: "h", text: "m3" });
    await reconnected;
    equal(await feed.next(), "m2", "recovered 1");
    equal(await feed.next(), "m3", "recovered 2");
    other.close();
    reconnected = once(client, "reconnect", 15000);
    const lost = once(client, "notrecovered", 15000);
    await restart(); // the new process has no history
    await reconnected;
    equal(await lost, { channel: "log", params: { name: "h" } }, "event");
    equal(await feed.next(), "NOT RECOVERED", "in order");
    await client.action("log_say", { name: "h", text: "fresh" });
    equal(await feed.next(), "fresh", "live again");
    client.close();
  },
};
