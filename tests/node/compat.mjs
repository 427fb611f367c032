// The JS client with {compat: true} against a socketapi 0.2.0 server (URL in argv[2]); run by
// tests/test_js_compat.py in the nox compat session. Exits 0 when every check passed.

import assert from "node:assert/strict";

import { ActionError, connect } from "../../trio_socketapi/js/socketapi.js";

const client = connect(process.argv[2], { compat: true, timeout: 3000 });
const next = (frames, count, ms = 3000) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${frames.length}/${count} frames`)), ms);
    const poll = setInterval(() => {
      if (frames.length < count) return;
      clearTimeout(timer);
      clearInterval(poll);
      resolve(frames);
    }, 10);
  });
try {
  assert.equal(await client.action("add", { a: 1, b: 2 }), 3);
  assert.deepEqual(await client.action("item", { name: "pen", qty: 2 }), { name: "pen", qty: 2 });
  await assert.rejects(client.action("fail", { reason: "stock" }), (error) => {
    assert.ok(error instanceof ActionError);
    assert.match(error.message, /cannot: stock/);
    return true;
  });
  const feed = [];
  const sub = client.subscribe("feed", { topic: "t" }, (data) => feed.push(data));
  await sub.ready;
  assert.deepEqual(await next(feed, 1), ["t: welcome"]);
  sub.unsubscribe();
  const news = [];
  const newsSub = client.subscribe("news", {}, (data) => news.push(data));
  await newsSub.ready;
  // Many callers at once: the client sends one at a time and matches replies by order.
  const said = await Promise.all(["a", "b", "c"].map((text) => client.action("say", { text })));
  assert.deepEqual(said, ["a", "b", "c"]);
  await next(news, 3);
  assert.deepEqual(news.map((message) => message.text).sort(), ["a", "b", "c"]);
  console.log("compat: all passed");
} finally {
  client.close();
}
