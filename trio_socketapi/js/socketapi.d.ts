// Types of the trio_socketapi JavaScript client (socketapi.js).
//
// connect<Api>(url) with the Api interface that `trio-socketapi typescript module:app` generates
// types every call: action names, their params and results, channel names, their subscribe
// params and data. Without a type argument every name and value is accepted.

/** The shape of a generated Api: actions' params and results, channels' params and data. */
export interface ApiShape {
  actions: { [name: string]: { params: object; result: unknown } };
  channels: { [name: string]: { params: object; data: unknown } };
}

/** Any server: every name, any params, results and data of unknown shape. */
export interface AnyApi extends ApiShape {
  actions: { [name: string]: { params: { [key: string]: unknown }; result: any } };
  channels: { [name: string]: { params: { [key: string]: unknown }; data: any } };
}

/** Backoff settings (milliseconds) for reconnecting after a drop. */
export interface ReconnectOptions {
  initialDelay?: number;
  maxDelay?: number;
  multiplier?: number;
  jitter?: number;
  maxAttempts?: number;
}

/** The constructor of a WebSocket (globalThis.WebSocket or a compatible implementation). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket;

export interface ConnectOptions {
  /** The WebSocket implementation; globalThis.WebSocket by default. */
  WebSocket?: WebSocketConstructor;
  /** Milliseconds a request may take, reply included (default 10000). */
  timeout?: number;
  /** Backoff settings, or false to close the client when the connection drops. */
  reconnect?: ReconnectOptions | false;
  protocols?: string | string[];
  /** The server is socketapi 0.2.0 (no ids): one request at a time, replies matched by order. */
  compat?: boolean;
}

export interface RequestOptions {
  /** Milliseconds this request may take (default: the client's timeout). */
  timeout?: number;
}

/** A data frame as received (extension keys such as params included). */
export interface DataFrame<D = unknown> {
  type: "data";
  channel: string;
  data: D;
  params?: { [key: string]: unknown };
  [key: string]: unknown;
}

export interface Subscription<P = unknown> {
  readonly channel: string;
  readonly params: P;
  /** Resolves once subscribed; rejects with ActionError if the server refuses. */
  readonly ready: Promise<void>;
  /** Stop receiving; the last subscriber of a channel and params unsubscribes on the server. */
  unsubscribe(): void;
}

export interface ClientEvents {
  open: { reconnected: boolean };
  close: { code: number; reason: string; willReconnect: boolean };
  reconnect: { attempts: number; resubscribed: number };
  error: { error: Error; channel: string };
  /** A history channel's subscription could not be recovered: publications may be missing. */
  notrecovered: { channel: string; params: { [key: string]: unknown } };
}

export interface SubscribeOptions {
  /** Called, in order with onData, where publications may be missing (reload the state). */
  onNotRecovered?: (detail: { channel: string; params: { [key: string]: unknown } }) => void;
}

type ActionParams<A extends ApiShape, N extends keyof A["actions"]> = A["actions"][N]["params"];
type ChannelParams<A extends ApiShape, N extends keyof A["channels"]> = A["channels"][N]["params"];

/** Parameters may be left out when none is required. */
type ParamsArgs<P, Rest extends unknown[]> = {} extends P
  ? [params?: P, ...rest: Rest]
  : [params: P, ...rest: Rest];

export declare class Client<A extends ApiShape = AnyApi> {
  constructor(url: string | URL, options?: ConnectOptions);
  readonly url: string;
  /** Milliseconds a request may take, reply included (settable). */
  timeout: number;
  /** How many times the client reconnected after a drop. */
  readonly reconnects: number;
  readonly connected: boolean;
  readonly closed: boolean;

  /** Call an action; resolves with its result, rejects with ActionError, TimeoutError … */
  action<N extends keyof A["actions"] & string>(
    name: N,
    ...args: ParamsArgs<ActionParams<A, N>, [options?: RequestOptions]>
  ): Promise<A["actions"][N]["result"]>;

  /** Subscribe; onData receives this subscription's data only. */
  subscribe<N extends keyof A["channels"] & string>(
    name: N,
    params: ChannelParams<A, N>,
    onData?: (data: A["channels"][N]["data"], frame: DataFrame<A["channels"][N]["data"]>) => void,
    options?: SubscribeOptions,
  ): Subscription<ChannelParams<A, N>>;

  on<E extends keyof ClientEvents>(event: E, listener: (detail: ClientEvents[E]) => void): () => void;
  off<E extends keyof ClientEvents>(event: E, listener: (detail: ClientEvents[E]) => void): void;
  /** Close for good: requests reject with ClientClosedError, nothing reconnects. */
  close(): void;
}

/** Connect to a trio_socketapi server; requests made before it opens wait for it. */
export declare function connect<A extends ApiShape = AnyApi>(
  url: string | URL,
  options?: ConnectOptions,
): Client<A>;

export declare class ActionError extends Error {
  constructor(message: string, options?: { errors?: object[] | null; channel?: string });
  /** pydantic's error list (loc, msg, type) for invalid parameters, else null. */
  readonly errors: { loc: (string | number)[]; msg: string; type: string }[] | null;
  readonly channel: string;
}
export declare class TimeoutError extends Error {}
export declare class ClientClosedError extends Error {}
export declare class ConnectionLostError extends ClientClosedError {}

export declare const DEFAULT_TIMEOUT: number;
export declare const DEFAULT_RECONNECT: Readonly<Required<ReconnectOptions>>;
export declare function backoffDelay(
  policy: Required<ReconnectOptions>,
  attempt: number,
  randomness: number,
): number;
export declare function feedsData(
  subscribed: { [key: string]: unknown },
  frameParams: { [key: string]: unknown } | null | undefined,
): boolean;
