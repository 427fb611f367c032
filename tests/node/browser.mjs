// The browser tests, in Debian's headless Chromium driven by playwright-core:
//  1. the JS client's behaviour tests (shared/behaviour.mjs) in a page served by tests/js_app.py;
//  2. the example app's chat page: three pages in two rooms each see only their room, presence,
//     notifications and the analytics feed reach them, and after the server restarts every page
//     reconnects and resubscribes;
//  3. the JS client drives the example's remaining actions and channels: the clock's background
//     tick, update_status by user id, and the dynamic typing/{room_id} channel;
//  4. a screenshot of two chatting pages (docs/chat.png with UPDATE_SCREENSHOT=1, else
//     tests/node/output/chat.png).
// Prints one line per check and "browser: N passed, M failed"; exits 1 if any failed.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

import { tests } from "./shared/behaviour.mjs";
import { AppServer, ROOT } from "./server.mjs";

const EXECUTABLE = process.env.CHROMIUM || "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const EXAMPLE_DIR = path.join(ROOT, "examples", "my_app");
const WAIT = 8000;

let passed = 0;
let failed = 0;

async function check(name, run) {
  try {
    await run();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`not ok - ${name}\n  ${String(error && error.stack ? error.stack : error).replaceAll("\n", "\n  ")}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

async function behaviourTests(context) {
  const server = await new AppServer("tests.js_app:app").start();
  try {
    const page = await context.newPage();
    page.on("pageerror", (error) => console.log(`  page error: ${error}`));
    await page.exposeFunction("restartServer", () => server.restart());
    await page.goto(server.httpUrl);
    for (const name of Object.keys(tests)) {
      await check(`in Chromium: ${name}`, () =>
        page.evaluate(async (name) => {
          const api = await import("/socketapi.js");
          const { tests } = await import("/behaviour.mjs");
          const url = `ws://${location.host}/`;
          const connect = (options = {}) => api.connect(url, { timeout: 3000, ...options });
          await tests[name]({ connect, restart: () => window.restartServer(), api });
        }, name),
      );
    }
    await page.close();
  } finally {
    await server.stop();
  }
}

async function openChat(context, server, user, room) {
  const page = await context.newPage();
  page.on("pageerror", (error) => console.log(`  page error (${user}): ${error}`));
  await page.goto(`${server.httpUrl}?user=${user}&room=${room}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: WAIT });
  return page;
}

async function send(page, text) {
  await page.fill("#text", text);
  await page.click("#send button");
}

const seen = (page, selector, text) =>
  page.locator(selector, { hasText: text }).first().waitFor({ timeout: WAIT });

async function texts(page, selector) {
  return page.locator(selector).allTextContents();
}

async function chatTests(context, server) {
  let ada, grace, linus;
  await check("chat: three pages sign in, two in room a and one in room b", async () => {
    ada = await openChat(context, server, "ada", "a");
    grace = await openChat(context, server, "grace", "b");
    linus = await openChat(context, server, "linus", "a");
  });
  if (!linus) return;

  await check("chat: a room's message reaches that room's pages only", async () => {
    await send(ada, "hello room a");
    await seen(linus, "#messages .message", "hello room a");
    await seen(ada, "#messages .message", "hello room a");
    await send(grace, "hello room b");
    await seen(grace, "#messages .message", "hello room b");
    // Ada's message was delivered before Grace's own: had it reached room b, it would be here.
    assert(!(await texts(grace, "#messages")).join().includes("hello room a"), "room b saw room a");
    await send(linus, "linus in a");
    await seen(ada, "#messages .message", "linus in a");
    for (const page of [ada, linus]) {
      assert(!(await texts(page, "#messages")).join().includes("hello room b"), "room a saw room b");
    }
  });

  await check("chat: who is online, notifications and the analytics feed", async () => {
    await seen(ada, "#online li", "Linus (online)");
    await seen(ada, "#online li", "Grace (online)");
    await grace.selectOption("#my-status", "away");
    await seen(ada, "#online li", "Grace (away)");
    await ada.selectOption("#notify-user", "2");
    await ada.fill("#notify-text", "lunch?");
    await ada.click("#notify button");
    await seen(grace, "#notifications li", "Ada: lunch?");
    assert((await texts(linus, "#notifications li")).length === 0, "a note to Grace reached Linus");
    await linus.click("#order");
    for (const page of [ada, grace, linus]) await seen(page, "#analytics li", "order_created");
  });

  await check("chat: after the server restarts every page reconnects and resubscribes", async () => {
    await server.restart();
    for (const page of [ada, grace, linus]) {
      await page.waitForSelector('body[data-reconnects="1"]', { timeout: 20000 });
      await page.waitForSelector('#status[data-state="open"]', { timeout: WAIT });
    }
    await send(linus, "back after the restart");
    await seen(ada, "#messages .message", "back after the restart");
    await send(grace, "b is back too");
    await seen(grace, "#messages .message", "b is back too");
    assert(!(await texts(ada, "#messages")).join().includes("b is back too"), "room a saw room b");
  });
  for (const page of [ada, grace, linus]) await page.close();
}

// Runs in the page: the example's actions and channels the chat page itself does not use.
async function driveTheRest() {
  const { connect } = await import("/socketapi.js");
  const client = connect(`ws://${location.host}/`, { timeout: 3000 });
  const within = (promise, ms, what) =>
    Promise.race([
      promise,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what} in ${ms} ms`)), ms)),
    ]);
  const frames = (name, params = {}) => {
    const seen = [];
    const waiters = [];
    const sub = client.subscribe(name, params, (data, frame) => {
      seen.push(frame);
      waiters.splice(0).forEach((wake) => wake());
    });
    const count = (n, ms) =>
      within(
        (async () => {
          while (seen.length < n) await new Promise((wake) => waiters.push(wake));
          return seen;
        })(),
        ms,
        `${n} frame(s) on ${name}`,
      );
    return { sub, seen, count };
  };
  const fail = (message) => {
    throw new Error(message);
  };
  try {
    // clock: the default response on subscribing, then one tick of the background task.
    const clock = frames("clock");
    await clock.sub.ready;
    const [first, tick] = await clock.count(2, 3000);
    for (const frame of [first, tick]) {
      if (frame.channel !== "clock" || Number.isNaN(Date.parse(frame.data))) {
        fail(`clock: ${JSON.stringify(frame)}`);
      }
    }
    if (!(Date.parse(tick.data) > Date.parse(first.data))) {
      fail("the tick is not later than the first time");
    }
    clock.sub.unsubscribe();

    // update_status by user id: the reply is the updated user, and user_status subscribers hear it.
    const status = frames("user_status");
    await status.sub.ready;
    const user = await client.action("update_status", { user_id: 3, status: "away" });
    if (user.id !== 3 || user.name !== "Linus" || user.status !== "away") {
      fail(`update_status: ${JSON.stringify(user)}`);
    }
    const [heard] = await status.count(1, 3000);
    if (heard.data.user_id !== 3 || heard.data.status !== "away") {
      fail(`user_status: ${JSON.stringify(heard)}`);
    }
    let refused = null;
    await client
      .action("update_status", { user_id: 3, status: "asleep" })
      .catch((error) => (refused = error));
    if (refused === null || !Array.isArray(refused.errors)) {
      fail("a wrong status was not refused with errors");
    }

    // typing/{room_id}: the action rooms/{room_id}/typing reaches that room's subscribers only.
    const roomA = frames("typing/a");
    const roomB = frames("typing/b");
    await Promise.all([roomA.sub.ready, roomB.sub.ready]);
    await client.action("rooms/a/typing", { user: "ada" });
    await client.action("rooms/b/typing", { user: "grace" });
    const [typedA] = await roomA.count(1, 3000);
    const [typedB] = await roomB.count(1, 3000);
    if (typedA.channel !== "typing/a" || typedA.data.room !== "a" || typedA.data.user !== "ada") {
      fail(`typing/a: ${JSON.stringify(typedA)}`);
    }
    if (typedB.channel !== "typing/b" || typedB.data.user !== "grace") {
      fail(`typing/b: ${JSON.stringify(typedB)}`);
    }
    if (roomA.seen.length !== 1 || roomB.seen.length !== 1) {
      fail("a room heard another room's typing");
    }
  } finally {
    client.close();
  }
}

async function exampleChannelTests(context, server) {
  await check("example: clock ticks, update_status by id, typing/{room_id} per room", async () => {
    const page = await context.newPage();
    page.on("pageerror", (error) => console.log(`  page error: ${error}`));
    await page.goto(server.httpUrl);
    try {
      await page.evaluate(driveTheRest);
    } finally {
      await page.close();
    }
  });
}

async function screenshot(context, server) {
  await check("screenshot: two pages chatting", async () => {
    const page = await context.newPage();
    await page.setViewportSize({ width: 1440, height: 500 });
    const url = (user) => `${server.httpUrl}?user=${user}&room=lobby`;
    await page.setContent(
      `<style>body{margin:0;display:flex;background:#f4f5f8}iframe{border:0;width:720px;height:500px}</style>` +
        `<iframe id="ada" src="${url("ada")}"></iframe><iframe id="grace" src="${url("grace")}"></iframe>`,
    );
    const [ada, grace] = ["#ada", "#grace"].map((id) => page.frameLocator(id));
    for (const frame of [ada, grace]) {
      await frame.locator('body[data-ready="true"]').waitFor({ timeout: WAIT });
    }
    const say = async (frame, text) => {
      await frame.locator("#text").fill(text);
      await frame.locator("#send button").click();
    };
    await say(ada, "Hi Grace! Is the trio server up?");
    await grace.locator("#messages .message", { hasText: "server up" }).waitFor({ timeout: WAIT });
    await say(grace, "Up. And this page reconnects by itself if it restarts.");
    await ada.locator("#messages .message", { hasText: "reconnects by itself" }).waitFor({ timeout: WAIT });
    await say(ada, "Same room, same feed: see you there.");
    await grace.locator("#messages .message", { hasText: "same feed" }).waitFor({ timeout: WAIT });
    const target =
      process.env.UPDATE_SCREENSHOT === "1"
        ? path.join(ROOT, "docs", "chat.png")
        : path.join(ROOT, "tests", "node", "output", "chat.png");
    fs.mkdirSync(path.dirname(target), { recursive: true });
    await page.screenshot({ path: target });
    assert(fs.statSync(target).size > 10000, "the screenshot has content");
    await page.close();
  });
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "socketapi-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: EXECUTABLE,
  headless: true,
  args: FLAGS,
});
const started = Date.now();
try {
  await behaviourTests(context);
  const chat = await new AppServer("main:app", { cwd: EXAMPLE_DIR }).start();
  try {
    await chatTests(context, chat);
    await exampleChannelTests(context, chat);
    await screenshot(context, chat);
  } finally {
    await chat.stop();
  }
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s)`);
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
