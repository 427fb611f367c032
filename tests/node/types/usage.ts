// tsc --strict must accept every call here without a marker, and reject each call under an
// expect-error marker (an unused marker is itself an error, so a wrong call that compiles fails).

import { ActionError, connect, type Client } from "../../../trio_socketapi/js/socketapi.js";
import type { Api, Message, User } from "./api.js";

export async function typed(client: Client<Api>): Promise<void> {
  const total: number = await client.action("add", { a: 1, b: 2 });
  const alone: number = await client.action("add", { a: 1 });
  const user: User = await client.action("get_user", { user_id: 1 }, { timeout: 500 });
  const history: Message[] = await client.action("get_history", { room_id: "a" });
  const pong: string = await client.action("ping");
  const sub = client.subscribe("chat_room", { room_id: "a" }, (data, frame) => {
    if ("user" in data) console.log(data.user, frame.channel);
  });
  await sub.ready;
  sub.unsubscribe();
  client.on("reconnect", ({ attempts, resubscribed }) => console.log(attempts + resubscribed));
  console.log(total, alone, user.name, history.length, pong);

  // @ts-expect-error b must be a number
  await client.action("add", { a: 1, b: "x" });
  // @ts-expect-error a is required
  await client.action("add", { b: 2 });
  // @ts-expect-error no such action
  await client.action("nope", {});
  // @ts-expect-error the result is a number, not a string
  const wrong: string = await client.action("add", { a: 1 });
  // @ts-expect-error room_id is required
  client.subscribe("chat_room", {});
  // @ts-expect-error no such channel
  client.subscribe("nope", {});
  // @ts-expect-error data is a string on the clock
  client.subscribe("clock", {}, (data: number) => console.log(data));
  // @ts-expect-error no such event
  client.on("opened", () => {});
  console.log(wrong);
}

export async function untyped(): Promise<void> {
  const client = connect("ws://127.0.0.1:8000/", { timeout: 1000, reconnect: { maxAttempts: 3 } });
  const anything = await client.action("whatever", { x: 1 });
  client.subscribe("any_channel", { k: "v" }, (data) => console.log(data));
  try {
    await client.action("add", { a: 1 });
  } catch (error) {
    if (error instanceof ActionError) console.log(error.message, error.errors?.[0]?.loc);
  }
  const typedLater = connect<Api>(new URL("ws://127.0.0.1:8000/"));
  // @ts-expect-error typed: params checked
  await typedLater.action("get_user", { user_id: "1" });
  client.close();
  console.log(anything);
}
