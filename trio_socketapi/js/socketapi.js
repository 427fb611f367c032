// The trio_socketapi JavaScript client: one dependency-free ES module, for browsers and Node 22+.
//
//   import { connect } from "/socketapi.js";
//   const client = connect("ws://127.0.0.1:8000/");
//   const total = await client.action("add", { a: 1, b: 2 });
//   const sub = client.subscribe("chat_room", { room_id: "a" }, (message) => console.log(message));
//   sub.unsubscribe();
//   client.close();
//
// Every request carries an id and its reply is matched by it, so many may be in flight at once.
// A reply that is an error frame rejects with ActionError (message, errors); no reply within the
// timeout rejects with TimeoutError; a drop while waiting rejects with ConnectionLostError; a
// request on a closed client rejects with ClientClosedError.
//
// Reconnecting: when the connection closes without close() having been called, requests waiting
// for a reply reject at once, and the client reconnects with exponential backoff and jitter
// (attempt n waits min(maxDelay, initialDelay * multiplier ** (n - 1)), shortened at random by up
// to `jitter` of itself), subscribes again to every open subscription and emits "reconnect".
// After maxAttempts failed attempts in a row it gives up and closes. Browsers do not tell a page
// why a handshake failed (a 403 looks like a server that is down), so every failure is retried
// within those bounds.
//
// History: on a channel with history the client remembers each subscription's last offset and
// epoch and resubscribes with {since}, so onData receives what was published meanwhile, once and
// in order; where that is not possible (recovered: false, a skipped offset, a new epoch) the
// subscription's onNotRecovered (subscribe's 4th argument, {onNotRecovered}) is called, in order
// with onData, and the client emits "notrecovered".
//
// Events (client.on(name, listener) returns a function that removes the listener):
//   "open"      {reconnected}         a connection opened
//   "close"     {code, reason, willReconnect}  a connection closed
//   "reconnect" {attempts, resubscribed}       reconnected, and subscribed again
//   "error"     {error, channel}      a subscription was refused when subscribing again
//   "notrecovered" {channel, params}  publications of a history channel may be missing

/** The server answered a request with an error frame. */
export class ActionError extends Error {
  constructor(message, { errors = null, channel = "" } = {}) {
    super(message);
    this.name = "ActionError";
    /** pydantic's error list (loc, msg, type) for invalid parameters, else null. */
    this.errors = errors;
    /** The action or channel the request named. */
    this.channel = channel;
  }
}

/** No reply came within the request's timeout. */
export class TimeoutError extends Error {
  constructor(message) {
    super(message);
    this.name = "TimeoutError";
  }
}

/** The client is closed: by close(), or after reconnecting gave up. */
export class ClientClosedError extends Error {
  constructor(message) {
    super(message);
    this.name = "ClientClosedError";
  }
}

/** The connection dropped while a request waited for its reply. */
export class ConnectionLostError extends ClientClosedError {
  constructor(message) {
    super(message);
    this.name = "ConnectionLostError";
  }
}

export const DEFAULT_TIMEOUT = 10000;

export const DEFAULT_RECONNECT = Object.freeze({
  initialDelay: 500,
  maxDelay: 30000,
  multiplier: 2,
  jitter: 0.5,
  maxAttempts: 10,
});

/** Milliseconds to wait before reconnect attempt `attempt` (1, 2, ...), `randomness` in [0, 1). */
export function backoffDelay(policy, attempt, randomness) {
  const growth = policy.multiplier ** Math.min(attempt - 1, 64);
  const ceiling = Math.min(policy.maxDelay, policy.initialDelay * growth);
  return ceiling * (1 - policy.jitter * randomness);
}

/** Whether a data frame's `params` (the subscription key the server echoes) fits `subscribed`. */
export function feedsData(subscribed, frameParams) {
  if (!frameParams || typeof frameParams !== "object") return true;
  for (const [name, value] of Object.entries(frameParams)) {
    if (name in subscribed) {
      const mine = subscribed[name];
      if (mine !== value && String(mine) !== String(value)) return false;
    }
  }
  return true;
}

const REPLY_TYPES = new Set(["action", "subscribed", "unsubscribed", "published", "error"]);

/**
 * Connect to a trio_socketapi server. Returns the client at once; requests made before the
 * connection opens wait for it (within their timeout).
 *
 * options: WebSocket (an implementation, default globalThis.WebSocket), timeout (ms per request,
 * default 10000), reconnect (backoff settings, or false to close on a drop), protocols, compat
 * (true for a socketapi 0.2.0 server, which knows no id: one request at a time, replies matched
 * by order, data frames routed by channel alone; a queued request's timeout starts when sent).
 */
export function connect(url, options = {}) {
  return new Client(url, options);
}

export class Client {
  constructor(url, options = {}) {
    const WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
    if (typeof WebSocketImpl !== "function") {
      throw new TypeError(
        "no WebSocket implementation: pass one as options.WebSocket (Node before 22 has none)",
      );
    }
    this.url = String(url);
    /** Milliseconds a request may take, reply included (settable). */
    this.timeout = options.timeout ?? DEFAULT_TIMEOUT;
    /** How many times the client reconnected after a drop. */
    this.reconnects = 0;
    this._WebSocket = WebSocketImpl;
    this._protocols = options.protocols;
    this._reconnect =
      options.reconnect === false ? null : { ...DEFAULT_RECONNECT, ...(options.reconnect ?? {}) };
    this._ws = null;
    this._open = false;
    this._closed = null; // the ClientClosedError once closed for good
    this._nextId = 1;
    this._pending = new Map(); // id -> {resolve, reject, channel}
    this._compat = options.compat === true;
    this._inOrder = []; // compat: the sent requests, oldest first ({..., abandoned} once timed out)
    this._turn = Promise.resolve(); // compat: settles when the previous request has
    this._waitingForOpen = new Set(); // callbacks run when a connection opens or the client closes
    this._subscriptions = new Map(); // key -> {channel, params, handlers: Set}
    this._listeners = new Map();
    this._failures = 0;
    this._hadConnection = false;
    this._retryTimer = null;
    this._openSocket();
  }

  /** Whether a connection is open now. */
  get connected() {
    return this._open;
  }

  /** Whether the client is closed for good. */
  get closed() {
    return this._closed !== null;
  }

  /** Call an action; resolves with its result (undefined when the reply has no data). */
  async action(name, params = {}, { timeout } = {}) {
    const reply = await this._request("action", name, params, { timeout });
    if (reply.type === "error") throw errorOf(reply, name);
    return reply.data;
  }

  /**
   * Subscribe to `name` with `params`; `onData(data, frame)` is called for each of this
   * subscription's data frames. Returns {channel, params, ready, unsubscribe()}: `ready` resolves
   * once subscribed and rejects with ActionError if the server refuses.
   */
  subscribe(name, params = {}, onData = () => {}, options = {}) {
    const key = `${name}\u0000${JSON.stringify(params)}`;
    let subscription = this._subscriptions.get(key);
    const handler = { onData, onNotRecovered: options.onNotRecovered };
    if (subscription === undefined) {
      subscription = { key, channel: name, params, handlers: new Set(), position: null };
      subscription.ready = new Promise((resolve, reject) => {
        subscription.markReady = resolve;
        subscription.markFailed = reject;
      });
      subscription.ready.catch(() => {}); // a refusal the caller never awaits is no crash
      this._subscriptions.set(key, subscription);
      this._sendSubscribe(subscription);
    }
    subscription.handlers.add(handler);
    const ready = subscription.ready;
    return {
      channel: name,
      params,
      ready,
      unsubscribe: () => this._leave(subscription, handler),
    };
  }

  /** Listen to "open", "close", "reconnect" or "error"; returns a function that stops it. */
  on(event, listener) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(listener);
    return () => this.off(event, listener);
  }

  /** Stop a listener added with on(). */
  off(event, listener) {
    this._listeners.get(event)?.delete(listener);
  }

  /** Close the connection (code 1000) for good: requests reject, nothing reconnects. */
  close() {
    this._shutDown(new ClientClosedError(`client of ${this.url} closed`));
  }

  // -- requests --------------------------------------------------------------------------------

  _request(type, channel, params, options = {}) {
    if (!this._compat) return this._send(type, channel, params, options);
    const turn = this._turn.then(() => this._send(type, channel, params, options));
    this._turn = turn.catch(() => {});
    return turn;
  }

  _send(type, channel, params, { timeout, extra } = {}) {
    return new Promise((resolve, reject) => {
      if (this._closed) {
        reject(this._closed);
        return;
      }
      const ms = timeout ?? this.timeout;
      let id = null;
      let entry = null;
      let waiting = null;
      const timer = setTimeout(() => {
        if (id !== null) this._pending.delete(id);
        if (entry !== null) entry.abandoned = true; // its late reply is still taken in order
        if (waiting !== null) this._waitingForOpen.delete(waiting);
        reject(new TimeoutError(`no reply to ${type} ${JSON.stringify(channel)} in ${ms} ms`));
      }, ms);
      const settle = (fn) => (value) => {
        clearTimeout(timer);
        fn(value);
      };
      const send = () => {
        waiting = null;
        if (this._closed) {
          settle(reject)(this._closed);
          return;
        }
        const request = { resolve: settle(resolve), reject: settle(reject), channel };
        if (this._compat) {
          entry = { ...request, abandoned: false };
          this._inOrder.push(entry);
          this._ws.send(JSON.stringify({ type, channel, data: params }));
          return;
        }
        id = this._nextId++;
        this._pending.set(id, request);
        const message = { type, channel, data: params, id, ...(extra ?? {}) };
        this._ws.send(JSON.stringify(message));
      };
      if (this._open) {
        send();
      } else {
        waiting = send;
        this._waitingForOpen.add(send);
      }
    });
  }

  _resumeOptions(subscription) {
    // On a channel with history: resume from the last publication received.
    if (subscription.position === null) return {};
    const [offset, epoch] = subscription.position;
    return { extra: { since: { offset, epoch } } };
  }

  /** Take the stream position from a subscribed reply (before any frame after it is handled). */
  _noteSubscribed(subscription, reply) {
    if (!Number.isInteger(reply.offset) || typeof reply.epoch !== "string") return;
    if (reply.recovered === false) this._notRecovered(subscription);
    if (reply.recovered !== true || subscription.position === null) {
      subscription.position = [reply.offset, reply.epoch];
    }
  }

  /** Track a data frame's position; false for a frame already delivered (skip it). */
  _track(subscription, frame) {
    if (!Number.isInteger(frame.offset) || typeof frame.epoch !== "string") return true;
    const last = subscription.position;
    if (last !== null) {
      if (frame.epoch === last[1] && frame.offset <= last[0]) return false;
      if (frame.epoch !== last[1] || frame.offset > last[0] + 1) this._notRecovered(subscription);
    }
    subscription.position = [frame.offset, frame.epoch];
    return true;
  }

  _notRecovered(subscription) {
    const detail = { channel: subscription.channel, params: subscription.params };
    for (const handler of [...subscription.handlers]) {
      try {
        handler.onNotRecovered?.(detail);
      } catch (error) {
        console.error("socketapi: an onNotRecovered callback threw", error);
      }
    }
    this._emit("notrecovered", detail);
  }

  _leave(subscription, handler) {
    if (!subscription.handlers.delete(handler) || subscription.handlers.size > 0) return;
    if (this._subscriptions.get(subscription.key) !== subscription) return;
    this._subscriptions.delete(subscription.key);
    if (this._open) {
      this._request("unsubscribe", subscription.channel, subscription.params).catch(() => {});
    }
  }

  // -- the connection --------------------------------------------------------------------------

  _openSocket() {
    const ws = this._protocols
      ? new this._WebSocket(this.url, this._protocols)
      : new this._WebSocket(this.url);
    this._ws = ws;
    ws.onopen = () => {
      if (this._ws !== ws) return;
      this._open = true;
      const reconnected = this._hadConnection;
      const attempts = this._failures;
      this._failures = 0;
      this._hadConnection = true;
      this._emit("open", { reconnected });
      const waiting = [...this._waitingForOpen];
      this._waitingForOpen.clear();
      if (reconnected) this._resubscribe(attempts); // before queued requests, in order
      for (const send of waiting) send();
    };
    ws.onmessage = (event) => {
      if (this._ws === ws) this._onMessage(event.data);
    };
    const ended = (code, reason) => {
      if (this._ws !== ws) return; // reported already (error and close both came)
      this._ws = null;
      this._open = false;
      this._failPending(`connection to ${this.url} lost (close code ${code})`);
      const willReconnect = !this._closed && this._reconnect !== null;
      this._emit("close", { code, reason, willReconnect });
      if (this._closed) return;
      if (this._reconnect === null) {
        this._shutDown(new ConnectionLostError(`connection to ${this.url} lost`));
        return;
      }
      this._scheduleRetry();
    };
    ws.onclose = (event) => ended(event.code, event.reason);
    // A close event follows an error, except in some runtimes (Node 20's) when the connection
    // never opened: an error before opening ends the attempt either way.
    ws.onerror = () => {
      if (ws.readyState !== 1) ended(1006, "");
    };
  }

  _scheduleRetry() {
    const policy = this._reconnect;
    this._failures += 1;
    if (this._failures > policy.maxAttempts) {
      this._shutDown(
        new ConnectionLostError(
          `connection to ${this.url} lost; gave up after ${policy.maxAttempts} attempts`,
        ),
      );
      return;
    }
    const delay = backoffDelay(policy, this._failures, Math.random());
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (!this._closed) this._openSocket();
    }, delay);
  }

  /** Send one subscription's subscribe; resolves true once subscribed, false otherwise. */
  async _sendSubscribe(subscription) {
    let failure;
    subscription.sending = true;
    try {
      const reply = await this._request(
        "subscribe",
        subscription.channel,
        subscription.params,
        this._resumeOptions(subscription),
      );
      if (reply.type !== "error") {
        this._noteSubscribed(subscription, reply);
        subscription.markReady();
        return true;
      }
      failure = errorOf(reply, subscription.channel);
    } catch (error) {
      if (error instanceof ConnectionLostError && !this._closed) {
        return false; // the next connection subscribes it again
      }
      failure = error;
    } finally {
      subscription.sending = false;
    }
    if (this._subscriptions.get(subscription.key) === subscription) {
      this._subscriptions.delete(subscription.key);
    }
    subscription.markFailed(failure);
    if (!(failure instanceof ClientClosedError)) {
      this._emit("error", { error: failure, channel: subscription.channel });
    }
    return false;
  }

  async _resubscribe(attempts) {
    // A subscription whose first subscribe is still queued for this connection is not sent twice.
    const subscriptions = [...this._subscriptions.values()].filter((s) => !s.sending);
    const results = await Promise.all(subscriptions.map((s) => this._sendSubscribe(s)));
    if (!this._open) return; // dropped again meanwhile: the next connection tries again
    this.reconnects += 1;
    this._emit("reconnect", { attempts, resubscribed: results.filter(Boolean).length });
  }

  _onMessage(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame === null || typeof frame !== "object" || typeof frame.type !== "string") return;
    if (frame.type === "data") {
      for (const subscription of [...this._subscriptions.values()]) {
        const fed = this._compat || feedsData(subscription.params, frame.params);
        if (subscription.channel === frame.channel && fed) {
          if (!this._track(subscription, frame)) continue;
          for (const handler of [...subscription.handlers]) {
            try {
              handler.onData(frame.data, frame);
            } catch (error) {
              console.error("socketapi: a subscription callback threw", error);
            }
          }
        }
      }
      return;
    }
    if (!REPLY_TYPES.has(frame.type)) return;
    if (this._compat) {
      const entry = this._inOrder.shift();
      if (entry !== undefined && !entry.abandoned) entry.resolve(frame);
      return;
    }
    if (frame.id === undefined) return;
    const pending = this._pending.get(frame.id);
    if (pending === undefined) return; // timed out already
    this._pending.delete(frame.id);
    pending.resolve(frame);
  }

  _failPending(message) {
    const pending = [...this._pending.values(), ...this._inOrder];
    this._pending.clear();
    this._inOrder = [];
    for (const request of pending) {
      request.reject(new ConnectionLostError(`${message} before the reply to ${JSON.stringify(request.channel)}`));
    }
  }

  _shutDown(error) {
    if (this._closed) return;
    this._closed = error;
    if (this._retryTimer !== null) clearTimeout(this._retryTimer);
    const waiting = [...this._waitingForOpen];
    this._waitingForOpen.clear();
    for (const send of waiting) send(); // each rejects with the closing error
    for (const request of [...this._pending.values(), ...this._inOrder]) request.reject(error);
    this._pending.clear();
    this._inOrder = [];
    this._subscriptions.clear();
    const ws = this._ws;
    if (ws !== null) {
      this._open = false;
      if (ws.readyState === 0 || ws.readyState === 1) ws.close(1000);
      // The close event still arrives; _ws stays set until then so it is reported once.
    }
  }

  _emit(event, detail) {
    for (const listener of [...(this._listeners.get(event) ?? [])]) {
      try {
        listener(detail);
      } catch (error) {
        console.error(`socketapi: a "${event}" listener threw`, error);
      }
    }
  }
}

function errorOf(reply, channel) {
  return new ActionError(String(reply.message), {
    errors: Array.isArray(reply.errors) ? reply.errors : null,
    channel,
  });
}
