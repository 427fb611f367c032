// The example's chat page: plain DOM code on the JS client the server ships at /socketapi.js.
// Open /?user=ada&room=lobby to sign in and join at once (the browser tests do).

import { connect } from "/socketapi.js";

const USERS = {
  ada: { id: 1, name: "Ada", token: "ada-token" },
  grace: { id: 2, name: "Grace", token: "grace-token" },
  linus: { id: 3, name: "Linus", token: "linus-token" },
};

const $ = (selector) => document.querySelector(selector);
const status = $("#status");
const statuses = new Map(); // user id -> status

function setStatus(state, text) {
  status.dataset.state = state;
  status.textContent = text;
}

function item(list, text, className) {
  const li = document.createElement("li");
  li.textContent = text;
  if (className) li.className = className;
  list.append(li);
  return li;
}

function showMessage(data) {
  const list = $("#messages");
  if (data && typeof data.user === "string") {
    const li = item(list, "", "message");
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = data.user;
    li.append(author, document.createTextNode(data.text));
  } else {
    item(list, data && data.text ? data.text : JSON.stringify(data), "notice");
  }
  list.scrollTop = list.scrollHeight;
}

function showOnline() {
  const list = $("#online");
  list.replaceChildren();
  for (const user of Object.values(USERS)) {
    const state = statuses.get(user.id) ?? "offline";
    item(list, `${user.name} (${state})`, state).dataset.userId = String(user.id);
  }
}

async function join(userKey, room) {
  const me = USERS[userKey];
  const url = new URL(`/?token=${encodeURIComponent(me.token)}`, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const client = connect(url, { reconnect: { initialDelay: 200, maxDelay: 3000, maxAttempts: 30 } });
  window.chatClient = client; // for the console (and the browser tests)

  client.on("open", () => setStatus("open", `${me.name}, connected`));
  client.on("close", ({ willReconnect }) =>
    setStatus(willReconnect ? "reconnecting" : "closed", willReconnect ? "reconnecting…" : "disconnected"),
  );
  client.on("reconnect", () => {
    document.body.dataset.reconnects = String(client.reconnects);
    showMessage({ text: "(reconnected)" });
    client.action("update_my_status", { status: $("#my-status").value }).catch(() => {});
  });
  client.on("error", ({ error, channel }) => showMessage({ text: `${channel}: ${error.message}` }));

  $("#sign-in").hidden = true;
  $("main").hidden = false;
  $("#room-name").textContent = room;
  for (const user of Object.values(USERS)) {
    if (user.id === me.id) continue;
    const option = new Option(user.name, String(user.id));
    $("#notify-user").append(option);
  }

  for (const message of await client.action("get_history", { room_id: room })) showMessage(message);
  client.subscribe("chat_room", { room_id: room }, showMessage);

  await Promise.all(
    Object.values(USERS).map(async (user) => {
      statuses.set(user.id, (await client.action("get_user", { user_id: user.id })).status);
    }),
  );
  client.subscribe("user_status", {}, ({ user_id, status: state }) => {
    statuses.set(user_id, state);
    showOnline();
  });
  await client.action("update_my_status", { status: "online" });
  showOnline();

  client.subscribe("notifications", { user_id: me.id }, (note) =>
    item($("#notifications"), `${note.notification_type}: ${note.message}`),
  );
  client.subscribe("analytics", {}, (event) =>
    item($("#analytics"), `${event.event} ${JSON.stringify(event.data)}`),
  );

  $("#send").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("#text").value.trim();
    if (!text) return;
    $("#text").value = "";
    try {
      await client.action("send_message", { message: { user: me.name, text, room } });
    } catch (error) {
      showMessage({ text: `not sent: ${error.message}` });
    }
  });
  $("#my-status").addEventListener("change", () =>
    client.action("update_my_status", { status: $("#my-status").value }).catch(() => {}),
  );
  $("#notify").addEventListener("submit", async (event) => {
    event.preventDefault();
    const user_id = Number($("#notify-user").value);
    await client.action("notify_user", { user_id, message: `${me.name}: ${$("#notify-text").value}` });
    $("#notify-text").value = "";
  });
  $("#order").addEventListener("click", () =>
    client.action("create_order", { product_id: 1, quantity: 1 }).catch(() => {}),
  );
  document.body.dataset.ready = "true";
}

$("#sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  join($("#user").value, $("#room").value.trim() || "lobby");
});

const wanted = new URLSearchParams(location.search);
if (wanted.get("user") in USERS) {
  join(wanted.get("user"), wanted.get("room") || "lobby");
}
