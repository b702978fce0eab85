// Type declarations for hypha-core-rs: the public API of the npm package hypha-core@0.20.86 as
// this package's JavaScript (js/src/index.js, hypha-core.js, host.js) implements it, with the
// server compiled to WebAssembly and run in the page.
//
// Self-contained: neither the DOM lib nor @types/node is needed. DOM types (HTMLIFrameElement,
// Window, URL, Response, Blob, WebAssembly.Module) are used where the consumer's lib declares
// them and are `never` otherwise.

/** The instance type of global class `K` where the consumer's lib declares it, else `never`. */
type GlobalInstance<K extends string> = typeof globalThis extends { [P in K]: { prototype: infer T } } ? T : never;
/** `WebAssembly.Module` where the consumer's lib declares it, else `never`. */
type WebAssemblyModule = typeof globalThis extends { WebAssembly: { Module: { prototype: infer T } } } ? T : never;

export type Environment = "browser" | "node" | "deno" | "unknown";

// ============================================================================ identities

/** A user as the server describes it (`connection_info.user`, `context.user`). */
export interface UserInfo {
  id: string;
  is_anonymous?: boolean;
  email?: string | null;
  roles?: string[];
  scopes?: string[];
  expires_at?: number | null;
  current_workspace?: string;
  parent?: string | null;
  scope?: {
    current_workspace?: string;
    /** workspace → `"r"` | `"rw"` | `"a"`. */
    workspaces?: Record<string, "r" | "rw" | "a">;
    client_id?: string | null;
    extra_scopes?: string[];
  };
  [key: string]: unknown;
}

/**
 * The caller's identity: what a `require_context` service function receives last (hypha-rpc
 * passes the whole call message, e.g. also `method` and `connection_type`).
 */
export interface CallerContext {
  /** The caller's workspace. */
  ws: string;
  /** The caller's address, `workspace/client_id`. */
  from: string;
  /** Who the call was addressed to. */
  to: string;
  user: UserInfo;
  [key: string]: unknown;
}

/**
 * What a `defaultService` function receives in its last declared parameter: the caller, as the
 * server forwards a host call.
 */
export interface HostCallContext extends CallerContext {
  /** Workspaces whose windows and apps the caller may list, get or close (`"*"`: all, for root). */
  visible_workspaces: "*" | string[];
  /**
   * The identity of a client this call may open (a window or worker app) in the caller's
   * workspace; absent when the caller may open none there.
   */
  child?: { client_id: string; token: string; user: UserInfo };
}

/** Claims of a token this server signed (`hyphaCore.verifyToken`). */
export interface TokenClaims {
  sub: string;
  workspace?: string;
  client_id?: string;
  email?: string;
  roles: string[];
  /** Space-separated scopes, e.g. `ws:my-workspace#rw`. */
  scope: string;
  iat: number;
  exp: number;
  nbf?: number;
  iss: string;
  aud: string;
}

/** `generateToken(config)`: a token for the caller's workspace or one it administers. */
export interface TokenConfig {
  /** Target workspace (default: the caller's); the caller must administer it. */
  workspace?: string;
  /** Lifetime in seconds (default 3600, at most 30 days). */
  expires_in?: number;
  /** Default `read_write`. */
  permission?: "r" | "rw" | "a" | "read" | "read_write" | "admin";
  /** Bind the token to one client id. */
  client_id?: string;
  /** Roles the caller holds (default: all of them; root may grant any). */
  roles?: string[];
  /** The token's subject; only root may name another user. */
  user_id?: string;
  /** Root only (ignored for others). */
  email?: string;
  /** Extra scopes, not `ws:…` ones. */
  extra_scopes?: string[];
  /** Accepted for compatibility with hypha-core and ignored. */
  scopes?: string[];
  /** Accepted for compatibility with hypha-core and ignored. */
  scope?: string;
}

// ============================================================================ configuration

/**
 * A `defaultService` entry. Functions are offered to every client through the workspace
 * manager and called in the page as `fn(...args, context: HostCallContext)` (the context always
 * in the last declared parameter). Other values (nested objects, constants) are accepted and
 * ignored by this package.
 */
export type DefaultServiceEntry = ((...args: any[]) => unknown) | {} | null | undefined;

export interface HyphaCoreConfig {
  /** Port part of the server URL (default 8080); not with `url`. */
  port?: number;
  /** Host part of the server URL: `local-hypha-server` in browsers, `localhost` elsewhere. */
  host?: string;
  /** `ws(s)://…/ws` or `http(s)://…`; not with `port`. */
  url?: string;
  /**
   * Where the app templates (`hypha-app-webworker.js`, `hypha-app-iframe.html`) are loaded from
   * (default: the directory of hypha-core.mjs when it was loaded over http(s), where the build
   * ships them; otherwise the page's directory).
   */
  baseUrl?: string;
  base_url?: string;
  /** HS256 secret of every token (default: 32 random bytes, hex). */
  jwtSecret?: string;
  jwt_secret?: string;
  /**
   * Functions offered to every client through the workspace manager. camelCase names become
   * snake_case on the wire (camelCase again in hypha-rpc clients); a name the manager answers
   * itself (`echo`, `log`, `register_service`…) is ignored with a warning.
   */
  defaultService?: Record<string, DefaultServiceEntry>;
  default_service?: Record<string, DefaultServiceEntry>;
  /**
   * Where the server's .wasm comes from if not next to the module (or where a bundler put it): a
   * URL (string or `URL`; relative to the page in a browser), bytes, a compiled
   * `WebAssembly.Module` or a fetch `Response`.
   */
  wasm?: string | GlobalInstance<"URL"> | ArrayBuffer | ArrayBufferView | WebAssemblyModule | GlobalInstance<"Response">;
  /**
   * Server mode: `DenoWebSocketServer` from `hypha-core-rs/deno-websocket-server` makes `start()`
   * also listen on `url` (Deno or Node) for WebSocket and HTTP clients. Any other value (e.g.
   * hypha-core's mock-socket server) is accepted and ignored.
   */
  ServerClass?: unknown;
  /** Accepted for compatibility and ignored: this instance's clients connect in-process. */
  WebSocketClass?: unknown;
  /** Where the server-mode .wasm comes from if not next to its module (as `wasm`). */
  serverWasm?: string | GlobalInstance<"URL"> | ArrayBuffer | ArrayBufferView | WebAssemblyModule;
  /**
   * Server mode's HTTP API limits (the native server's `--max-body`, `--allow-origin`,
   * `--rate-limit`, `--rate-burst`). `localRootCalls: false` sends HTTP calls to root's own
   * functions to root's client as frames instead of running them in-process (default: true).
   */
  http?: { maxBody?: number; allowOrigins?: string[]; rateLimit?: number; rateBurst?: number; localRootCalls?: boolean };
}

/** `start(config)`: accepted for compatibility and ignored; `workspace`/`client_id` throw. */
export interface StartConfig {
  workspace?: undefined;
  client_id?: undefined;
  [key: string]: unknown;
}

/** `connect(config)`: hypha-rpc `connectToServer` options; `server_url` and `WebSocketClass` are set. */
export interface ConnectConfig {
  /** Client id (default: the id a token is bound to, else random); `root` is reserved. */
  client_id?: string;
  workspace?: string;
  token?: string;
  /** Seconds. */
  method_timeout?: number;
  name?: string;
  [key: string]: unknown;
}

// ============================================================================ services

export interface ServiceConfig {
  visibility?: "public" | "protected" | "unlisted";
  require_context?: boolean | string[];
  authorized_workspaces?: string[];
  [key: string]: unknown;
}

/**
 * A member of a service: a function clients call (with the caller's `CallerContext` last if
 * `config.require_context`), a nested object of members, or a value.
 */
export type ServiceMember = ((...args: any[]) => unknown) | {} | null | undefined;

/** What `registerService` takes: an id, optional metadata, and the functions it serves. */
export interface ServiceDefinition {
  id: string;
  name?: string;
  description?: string;
  type?: string;
  config?: ServiceConfig;
  [member: string]: ServiceMember;
}

export interface RegisterServiceOptions {
  overwrite?: boolean;
  /** Tell the workspace manager (default true). */
  notify?: boolean;
  check_type?: boolean;
}

/** A service as listed or registered: its absolute id `workspace/client_id:name` and metadata. */
export interface ServiceInfo {
  id: string;
  name?: string;
  description?: string;
  type?: string;
  app_id?: string;
  config?: ServiceConfig & { workspace?: string };
  [key: string]: unknown;
}

/** `listServices(query)`: every key is a pattern (`*` wildcards); unknown keys are refused. */
export interface ServiceQuery {
  id?: string;
  service_id?: string;
  workspace?: string;
  client_id?: string;
  app_id?: string;
  visibility?: "public" | "protected" | "unlisted";
  type?: string;
}

/**
 * `getService(query)`: an id (`svc`, `cid:svc`, `ws/cid:svc`, `ws/cid`, with `*` wildcards) or a
 * map holding one; other keys of the map are not used.
 */
export type ServiceIdQuery = string | { id: string } | { service_id: string };

export interface GetServiceOptions {
  /** Which match to take when several do (default `exact`: fail unless one; `random` in `public`). */
  mode?: "exact" | "first" | "last" | "random";
  /** Seconds. */
  timeout?: number;
  case_conversion?: "camel" | "snake";
  [key: string]: unknown;
}

/** A service obtained from the server: its functions are remote calls. */
export interface RemoteService {
  id: string;
  name?: string;
  description?: string;
  type?: string;
  config?: ServiceConfig;
  [member: string]: any;
}

export interface ClientInfo {
  /** `workspace/client_id`. */
  id: string;
  workspace: string;
  client_id: string;
  user: { id: string };
}

// ============================================================================ windows and apps

export interface WindowConfig {
  /** A URL, or HTML source starting with `<` (opened as a sandboxed srcdoc iframe). */
  src?: string;
  /** HTML source, when `src` is not given. */
  content?: string;
  /** `iframe`: a new hidden iframe; otherwise an `add_window` event asks the page for an element. */
  type?: "iframe" | "window" | "web-worker" | (string & {});
  /** Put the app into the element with this id (waits up to 4.5 s for it). */
  window_id?: string;
  name?: string;
  width?: string;
  height?: string;
  /** Do not wait for the app's `default` service; resolve with null once mounted. */
  passive?: boolean;
  /** How long to wait for the app's `default` service, in ms. */
  timeout?: number;
  /** Passed to the app's `run({data, config})`. */
  data?: unknown;
  config?: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * `loadApp` takes a web-worker script URL (`type: "web-worker"`), plugin source (`.imjoy.html`
 * text, inline or a URL ending in `.imjoy.html`), an HTML string, or an app URL.
 */
export interface AppConfig extends WindowConfig {
  /** For plugin source: the tag to use (default: the plugin's first tag). */
  tag?: string;
  /** A web-worker script is started as a module worker (also when its URL ends in `.mjs`). */
  worker_type?: "module" | "classic";
}

/** A running app, as the root API's `listApps()` reports it. */
export interface AppInfo {
  /** Its `default` service id, `workspace/client_id:default`. */
  id: string;
  name: string;
  type: string;
  workspace: string;
  client_id: string;
}

/** A window or app by name or id (a string matches either). */
export type AppQuery = string | { id?: string; name?: string };

export interface WindowInfo {
  id: string;
  name: string;
  /** Its `default` service (null until it registered one, or for a passive window). */
  service: RemoteService | null;
}

// ============================================================================ client APIs

/** `connect()` and the root API: the server facts of the connection. */
export interface ConnectionInfoConfig {
  public_base_url: string;
  workspace: string;
  client_id: string;
  local_base_url: string;
  server_url: string;
  manager_id: string;
  user: UserInfo;
  hypha_version: string;
  reconnection_token: string;
  /** Seconds. */
  reconnection_token_life_time: number;
}

/**
 * What both the root API (`start()`) and client APIs (`connect()`) offer: the workspace
 * manager's methods (camelCase), the host page's methods and hypha-rpc's extras. User
 * `defaultService` functions appear as further (camelCase) members.
 */
export interface HyphaAPI {
  config: ConnectionInfoConfig;

  registerService(service: ServiceDefinition, options?: RegisterServiceOptions): Promise<ServiceInfo>;
  unregisterService(service: string | { id: string }, notify?: boolean): Promise<void>;
  listServices(query?: string | ServiceQuery): Promise<ServiceInfo[]>;
  /** The service's functions as remote calls (the root API resolves null for an unknown one). */
  getService(query: ServiceIdQuery, options?: GetServiceOptions): Promise<RemoteService | null>;
  getServiceInfo(query: ServiceIdQuery, options?: { mode?: GetServiceOptions["mode"] }): Promise<ServiceInfo>;
  listClients(workspace?: string): Promise<ClientInfo[]>;
  generateToken(config?: TokenConfig): Promise<string>;
  /** Receive server events of these types in this workspace (hypha-rpc `on` handlers). */
  subscribe(eventType: string | string[]): Promise<void>;
  unsubscribe(eventType: string | string[]): Promise<void>;
  checkStatus(): Promise<{ status: "ok" }>;
  /** Ping a client of the caller's workspace. */
  ping(clientId: string, timeout?: number): Promise<"pong">;
  /** Exports `api` as this client's `default` service. */
  export(api: Record<string, any>): Promise<void>;
  getServiceSchema(service: Record<string, any>): Promise<any>;
  registerCodec(codec: { name: string; type?: any; encoder?: (value: any) => any; decoder?: (value: any) => any }): void;
  registerProbes(probes: Record<string, any>): Promise<ServiceInfo>;

  echo<T>(data: T): T | Promise<T>;
  log(...args: any[]): void | Promise<void>;
  info(...args: any[]): void | Promise<void>;
  warning(...args: any[]): void | Promise<void>;
  error(...args: any[]): void | Promise<void>;
  critical(...args: any[]): void | Promise<void>;
  /** Browser only (the dialogs of the host page). */
  alert(message: string): null | Promise<null>;
  confirm(message: string): boolean | Promise<boolean>;
  prompt(message: string, defaultValue?: string): string | null | Promise<string | null>;
  showMessage(message: string): void | Promise<void>;
  showProgress(progress: number): void | Promise<void>;

  /** Browser only. Resolves with the window's `default` service, or null if `passive`. */
  createWindow(config: WindowConfig): Promise<RemoteService | null>;
  getWindow(query: AppQuery): Promise<WindowInfo | null>;
  /**
   * Run an app; resolves with its `default` service after its `setup()` (and `run()` for
   * windows), or null if `passive`. Browser only.
   */
  loadApp(config: AppConfig | string): Promise<RemoteService | null>;
  loadPlugin(config: AppConfig | string): Promise<RemoteService | null>;
  /** A running app's `default` service by name or id (null if none); a URL not running yet is loaded. */
  getPlugin(query: AppQuery): Promise<RemoteService | null>;
  /** Root API: by app name or id (see RootAPI); client API: by client id (see ClientAPI). */
  getApp(query: string): Promise<RemoteService | null>;
  /** Root API: the running apps (AppInfo); client API: the `default` services of a workspace. */
  listApps(): Promise<AppInfo[] | ServiceInfo[]>;
  /**
   * Stop an app: terminate its worker or remove its window. Its client disconnects, its
   * services go, calls in flight to it fail. Resolves true if an app was stopped.
   */
  closeApp(query: AppQuery): Promise<boolean>;

  on(event: string, handler: (data: any) => void): void;
  once(event: string, handler: (data: any) => void): void;
  /** `off()` removes every handler, `off(event)` those of one event. */
  off(event?: string, handler?: (data: any) => void): void;

  [member: string]: any;
}

/**
 * The API `start()` resolves with: the root client (`default/root`, admin of every workspace).
 * Its events are the HyphaCore's own; the page functions (dialogs, logs, apps) run directly.
 */
export interface RootAPI extends HyphaAPI {
  id: "root";
  echo<T>(data: T): T;
  log(...args: any[]): void;
  info(...args: any[]): void;
  warning(...args: any[]): void;
  error(...args: any[]): void;
  critical(...args: any[]): void;
  alert(message: string): null;
  confirm(message: string): boolean;
  prompt(message: string, defaultValue?: string): string | null;
  showMessage(message: string): void;
  showProgress(progress: number): void;
  /** A running app by name, id or client id, `{id}` or `{name}` (null if none); a URL or HTML string not running yet is loaded. */
  getApp(query: AppQuery): Promise<RemoteService | null>;
  /** The running apps (every workspace's, for root). */
  listApps(): Promise<AppInfo[]>;
  /** Fires `event` on the HyphaCore's bus. */
  emit<K extends HyphaCoreEvent | (string & {})>(event: K, data?: HyphaCoreEventData<K>): Promise<void>;
  on<K extends HyphaCoreEvent | (string & {})>(event: K, handler: (data: HyphaCoreEventData<K>) => void): void;
  once<K extends HyphaCoreEvent | (string & {})>(event: K, handler: (data: HyphaCoreEventData<K>) => void): void;
  /** Same as `hyphaCore.close()`. */
  close(): Promise<void>;
  /** The root client lives as long as the server: use `close()`. */
  disconnect?: undefined;
}

/** A hypha-rpc message for `emit`: handled locally unless `to` names a client. */
export interface RpcMessage {
  type: string;
  to?: string;
  [key: string]: any;
}

/**
 * hypha-rpc's workspace-manager proxy, as its `connectToServer` resolves (camelCase): hypha-rpc's
 * own members, plus whatever the server's manager offers (`[member]`).
 */
export interface WorkspaceManager {
  /** The manager's service config merged with the connection info. */
  config: { [key: string]: any };
  /** hypha-rpc's RPC object. */
  rpc: any;
  registerService(service: ServiceDefinition, options?: RegisterServiceOptions): Promise<ServiceInfo>;
  unregisterService(service: string | { id: string }, notify?: boolean): Promise<void>;
  listServices(query?: string | ServiceQuery): Promise<ServiceInfo[]>;
  /** Rejects when no service matches. */
  getService(query: ServiceIdQuery, options?: GetServiceOptions): Promise<RemoteService>;
  /** Exports `api` as this client's `default` service. */
  export(api: Record<string, any>): Promise<void>;
  /** The `default` service of client `clientId` (`cid` or `ws/cid`; default `*`). */
  getApp(clientId?: string): Promise<RemoteService>;
  /** The `default` services of `workspace` (default: this client's). */
  listApps(workspace?: string): Promise<ServiceInfo[]>;
  disconnect(): Promise<void>;
  /** Sends `message` to client `message.to`, or fires it locally (no `to`). */
  emit(message: RpcMessage, extraData?: any): void | Promise<void>;
  on(event: string, handler: (data: any) => void): void;
  once(event: string, handler: (data: any) => void): void;
  /** `off()` removes every handler, `off(event)` those of one event. */
  off(event?: string, handler?: (data: any) => void): void;
  getServiceSchema(service: Record<string, any>): Promise<any>;
  registerCodec(codec: { name: string; type?: any; encoder?: (value: any) => any; decoder?: (value: any) => any }): void;
  registerProbes(probes: Record<string, any>): Promise<ServiceInfo>;
  [member: string]: any;
}

/**
 * A client API from `hyphaCore.connect()`: hypha-rpc's workspace-manager proxy with this
 * server's manager and host methods. `getApp` and `listApps` are hypha-rpc's (by client id,
 * `default` services), not the root API's.
 */
export interface ClientAPI extends HyphaAPI, WorkspaceManager {
  config: ConnectionInfoConfig;
  getService(query: ServiceIdQuery, options?: GetServiceOptions): Promise<RemoteService>;
  getApp(clientId?: string): Promise<RemoteService>;
  listApps(workspace?: string): Promise<ServiceInfo[]>;
  echo<T>(data: T): Promise<T>;
  log(...args: any[]): Promise<void>;
  info(...args: any[]): Promise<void>;
  warning(...args: any[]): Promise<void>;
  error(...args: any[]): Promise<void>;
  critical(...args: any[]): Promise<void>;
  alert(message: string): Promise<null>;
  confirm(message: string): Promise<boolean>;
  prompt(message: string, defaultValue?: string): Promise<string | null>;
  showMessage(message: string): Promise<void>;
  showProgress(progress: number): Promise<void>;
}

// ============================================================================ HyphaCore

/** A server-side connection: `hyphaCore.connections["ws/cid"]`. */
export interface Connection {
  /** `workspace/client_id`. */
  id: string;
  workspace: string;
  client_id: string;
  user_id?: string;
  /** Server connection id while connected, else null (a mounted client between connections). */
  conn: number | null;
  /** The Worker or iframe window of a mounted client. */
  source?: unknown;
  /** A mounted client's `user_info`. */
  user?: Partial<UserInfo>;
  /** Posts to a mounted client. */
  postMessage?: (message: unknown) => void;
}

/** Anything `mountWorker` can talk to: a Worker, a MessagePort… */
export interface WorkerLike {
  postMessage(message: any, transfer?: any): void;
  addEventListener(type: string, listener: (event: any) => void): void;
  removeEventListener(type: string, listener: (event: any) => void): void;
  /** If present, calling it also disconnects the mounted client. */
  terminate?(): void;
}

export interface MountConfig {
  /** Default `default`. */
  workspace?: string;
  /** Default `client-<random>`. */
  client_id?: string;
  /** The client's user (default: anonymous); its `id` and `email` go into the client's token. */
  user_info?: Partial<UserInfo>;
  /** Sent to the client in `initializeHyphaClient`. */
  config?: Record<string, unknown>;
  /** ms to wait for hyphaClientReady and for the `default` service (default 60000). */
  timeout?: number;
  /** Seconds. */
  method_timeout?: number;
  /** Do not wait for the `default` service. */
  passive?: boolean;
}

export interface MountResult {
  workspace: string;
  client_id: string;
  connection: Connection;
  /** The client's `default` service (null if `passive`; for iframes, null if it registered none in time). */
  service: RemoteService | null;
}

/** An in-tab socket: what `WebSocketClass` constructs and `getWebsockets()` returns. */
export interface InTabSocket {
  readonly url: string;
  readonly protocol: string;
  readonly extensions: string;
  readonly bufferedAmount: number;
  binaryType: "blob" | "arraybuffer";
  /** CONNECTING 0, OPEN 1, CLOSING 2, CLOSED 3. */
  readonly readyState: 0 | 1 | 2 | 3;
  onopen: ((event: { type: "open"; target: InTabSocket }) => void) | null;
  onmessage: ((event: InTabSocketMessageEvent) => void) | null;
  onclose: ((event: InTabSocketCloseEvent) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open" | "message" | "close" | "error", listener: (event: any) => void): void;
  removeEventListener(type: "open" | "message" | "close" | "error", listener: (event: any) => void): void;
}

export interface InTabSocketMessageEvent {
  type: "message";
  data: string | ArrayBuffer | GlobalInstance<"Blob">;
  target: InTabSocket;
}

export interface InTabSocketCloseEvent {
  type: "close";
  code: number;
  reason: string;
  wasClean: boolean;
  target: InTabSocket;
}

export interface InTabSocketClass {
  new (url: string, protocols?: string | string[]): InTabSocket;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;
}

/** The events of the HyphaCore bus and the data their handlers receive. */
export interface HyphaCoreEvents {
  /** A window needs an element: create one with id `window_id` (within 4.5 s). */
  add_window: WindowConfig & { window_id: string; workspace: string };
  /** `closeApp` removed an app's window. */
  remove_window: { id: string; name: string; app_id: string };
  /** A mounted client said hyphaClientReady. */
  connection_ready: Connection | undefined;
  /**
   * An app loading says how far it got (web-python apps: booting Pyodide, installing packages);
   * `progress` is 0..100.
   */
  app_progress: { workspace: string; client_id: string; name: string | null; stage: string; progress: number | null };
  /** A mounted client or app registered its `default` service. */
  client_ready: RemoteService;
  service_added: ServiceInfo;
  service_removed: ServiceInfo;
  client_connected: { id: string; workspace: string; client_id: string; user_id: string };
  client_disconnected: { id: string; workspace: string; client_id: string };
}

export type HyphaCoreEvent = keyof HyphaCoreEvents;

/** The data of event `K`: typed for the HyphaCore's own events, `any` for others. */
export type HyphaCoreEventData<K extends string> = K extends HyphaCoreEvent ? HyphaCoreEvents[K] : any;

export declare class HyphaCore {
  /** url → running HyphaCore in this JS realm. */
  static servers: Record<string, HyphaCore>;
  constructor(config?: HyphaCoreConfig);

  readonly port: number;
  readonly host: string;
  /** `https://local-hypha-server:8080` by default. */
  readonly url: string;
  readonly wsUrl: string;
  /** Ends with `/`. */
  readonly baseUrl: string;
  readonly jwtSecret: string;
  readonly environment: Environment;
  readonly workspaceManagerId: string;
  /** The root API while running, else null. */
  api: RootAPI | null;
  /** The WebAssembly server while running, else null. */
  server: unknown;
  /** `"ws/cid"` → connection. */
  connections: Record<string, Connection>;
  /** The server-mode class given as `ServerClass`, else null. */
  readonly ServerClass: unknown;
  /** The in-tab socket class hypha-rpc clients of this instance use. */
  readonly WebSocketClass: InTabSocketClass;
  /** snake_case name → `defaultService` function. */
  readonly defaultServices: Record<string, (...args: any[]) => unknown>;

  /** Start the server and connect the root client. Rejects if a server already runs at `url`. */
  start(config?: StartConfig): Promise<RootAPI>;
  connect(config?: ConnectConfig): Promise<ClientAPI>;
  /** `close()` then `start()`. */
  reset(): Promise<RootAPI>;
  /** Disconnect every client and free the server; settles when this instance's clients are gone. */
  close(): Promise<void>;

  /**
   * Connect a Worker (or anything with postMessage/addEventListener/removeEventListener) running
   * hypha-rpc's `setupLocalClient` as client `workspace/client_id`; resolves once it registered
   * its `default` service (unless `passive`).
   */
  mountWorker(worker: WorkerLike, config?: MountConfig): Promise<MountResult>;
  /** Same for an `<iframe>` or its `contentWindow`. Browser only. */
  mountIframe(iframe: GlobalInstance<"HTMLIFrameElement"> | GlobalInstance<"Window">, config?: MountConfig): Promise<MountResult>;
  /** Close client `workspace/clientId`'s connection after sending it `{type: "error", message: reason}`. */
  forceDisconnect(workspace: string, clientId: string, code?: number, reason?: string): Promise<void>;
  /** `"ws/cid"` → socket, for clients connected through in-tab sockets. */
  getWebsockets(): Record<string, InTabSocket>;
  /** Claims of a token signed by this server; throws an Error with `code` "INVALID_TOKEN". */
  verifyToken(token: string): TokenClaims;

  on<K extends HyphaCoreEvent | (string & {})>(event: K, handler: (data: HyphaCoreEventData<K>) => void): void;
  once<K extends HyphaCoreEvent | (string & {})>(event: K, handler: (data: HyphaCoreEventData<K>) => void): void;
  /** `off()` removes every handler, `off(event)` those of one event. */
  off(event?: string, handler?: (data: any) => void): void;
  /** Calls the handlers of `event` (their errors are logged, never thrown). */
  emit<K extends HyphaCoreEvent | (string & {})>(event: K, data?: HyphaCoreEventData<K>): Promise<void>;
  /** The next `event`'s data; rejects after `timeout` ms if given. */
  waitFor<K extends HyphaCoreEvent | (string & {})>(event: K, timeout?: number): Promise<HyphaCoreEventData<K>>;
}

// ============================================================================ hypha-rpc

/** hypha-rpc's `connectToServer` options. */
export interface ConnectToServerConfig {
  server_url?: string;
  /** `{url, WebSocketClass}`, e.g. a running HyphaCore. */
  server?: { url: string; WebSocketClass?: unknown };
  client_id?: string;
  workspace?: string;
  token?: string;
  /** Seconds. */
  method_timeout?: number;
  name?: string;
  WebSocketClass?: unknown;
  [key: string]: unknown;
}

export declare function connectToServer(config: ConnectToServerConfig): Promise<WorkspaceManager>;

export declare const hyphaWebsocketClient: {
  connectToServer: typeof connectToServer;
  setupLocalClient(options: { enable_execution?: boolean; on_ready?: ((api: WorkspaceManager, config: any) => unknown) | null }): Promise<WorkspaceManager>;
  getRemoteService(serviceUri: string, config?: ConnectToServerConfig): Promise<RemoteService>;
  [key: string]: any;
};

export {};
