// Type declarations for hypha-core (Rust/WebAssembly edition): the same public API as the npm
// package hypha-core@0.20.86, with its server compiled to WebAssembly and run in the page.

export type Environment = "browser" | "node" | "deno" | "unknown";

/** The identity a host method or `require_context` service receives as its last argument. */
export interface CallerContext {
  /** The caller's workspace. */
  ws: string;
  /** The caller's address, `workspace/client_id`. */
  from: string;
  /** Who the call was addressed to (the workspace manager for host methods). */
  to: string;
  user: UserInfo;
}

export interface UserInfo {
  id: string;
  is_anonymous?: boolean;
  email?: string | null;
  roles?: string[];
  scopes?: string[];
  expires_at?: number | null;
  scope?: {
    current_workspace?: string;
    workspaces?: Record<string, "r" | "rw" | "a">;
    client_id?: string | null;
    extra_scopes?: string[];
  };
  [key: string]: unknown;
}

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
   * Functions offered to every client through the workspace manager (camelCase names become
   * snake_case on the wire, camelCase again in hypha-rpc clients). Each is called in the page as
   * `fn(...args, callerContext)`.
   */
  defaultService?: Record<string, (...args: any[]) => any>;
  default_service?: Record<string, (...args: any[]) => any>;
  /**
   * Where the server's .wasm comes from if not next to the module (or where a bundler put it): a
   * URL (relative to the page in a browser), bytes, a compiled module or a `Response`.
   */
  wasm?: string | URL | BufferSource | WebAssembly.Module | Response;
  /** Accepted for compatibility and ignored: the server runs in the page as WebAssembly. */
  ServerClass?: unknown;
  /** Accepted for compatibility and ignored: clients use the in-tab socket class. */
  WebSocketClass?: unknown;
  [key: string]: unknown;
}

export interface ServiceConfig {
  visibility?: "public" | "protected" | "unlisted";
  require_context?: boolean | string[];
  authorized_workspaces?: string[];
  [key: string]: unknown;
}

export interface ServiceInfo {
  id: string;
  name?: string;
  description?: string;
  type?: string;
  app_id?: string;
  config?: ServiceConfig & { workspace?: string };
  [key: string]: unknown;
}

export interface ServiceQuery {
  id?: string;
  service_id?: string;
  workspace?: string;
  client_id?: string;
  app_id?: string;
  visibility?: "public" | "protected" | "unlisted";
  type?: string;
}

export interface GetServiceOptions {
  mode?: "exact" | "first" | "last" | "random" | "default";
  timeout?: number;
  case_conversion?: "camel" | "snake";
  [key: string]: unknown;
}

export interface TokenConfig {
  /** Target workspace (default: the caller's); the caller must administer it. */
  workspace?: string;
  /** Lifetime in seconds (default 3600, at most 30 days). */
  expires_in?: number;
  /** `read` | `read_write` (default) | `admin`. */
  permission?: "r" | "rw" | "a" | "read" | "read_write" | "admin";
  /** Bind the token to one client id. */
  client_id?: string;
  /** A subset of the caller's roles (default: all of them). */
  roles?: string[];
  /** Root only: the token's subject (user id). */
  user_id?: string;
  /** Root only: the token's email. */
  email?: string;
  extra_scopes?: string[];
}

export interface WindowConfig {
  /** A URL, or HTML source starting with `<` (opened as a sandboxed srcdoc iframe). */
  src?: string;
  /** HTML source, when `src` is not given. */
  content?: string;
  type?: "iframe" | "window" | "web-worker" | string;
  /** Put the app into the element with this id (waits up to 4.5 s for it). */
  window_id?: string;
  name?: string;
  width?: string;
  height?: string;
  /** Do not wait for the app's `default` service; resolve with null once mounted. */
  passive?: boolean;
  /** How long to wait for the app's `default` service, in ms. */
  timeout?: number;
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
}

/** A running app, as `listApps()` reports it. */
export interface AppInfo {
  /** Its `default` service id, `workspace/client_id:default`. */
  id: string;
  name: string;
  type: "web-worker" | "window" | "iframe" | string;
  workspace: string;
  client_id: string;
}

/** A parsed plugin file (what the app templates receive as `config`). */
export interface PluginConfig {
  name: string;
  type: string;
  tags?: string[];
  tag?: string;
  scripts: Array<{ type: "script"; content: string; lang: string; attrs: Record<string, string> }>;
  script?: string;
  lang: string;
  windows: Array<{ content: string; attrs: Record<string, string> }> | null;
  styles: Array<{ content: string; attrs: Record<string, string> }> | null;
  links: Array<Record<string, unknown>> | null;
  attachments: Array<Record<string, unknown>> | null;
  docs?: unknown;
  requirements: unknown[];
  _id: string;
  id: string;
  code: string;
  runnable: boolean;
  [key: string]: unknown;
}

export interface WindowInfo {
  id: string;
  name: string;
  service: RemoteService | null;
}

/** A service obtained from the server: its functions are remote calls. */
export type RemoteService = {
  id: string;
  name?: string;
  description?: string;
  config?: ServiceConfig;
  [member: string]: any;
};

export interface ConnectionInfoConfig {
  public_base_url: string;
  workspace: string;
  client_id: string;
  local_base_url: string;
  server_url: string;
  manager_id: string;
  user?: UserInfo;
  hypha_version?: string;
  reconnection_token?: string;
  reconnection_token_life_time?: number;
}

/** What every client API offers (hypha-rpc's workspace-manager proxy, camelCase). */
export interface HyphaAPI {
  config: ConnectionInfoConfig;
  registerService(service: Record<string, any> & { id: string; config?: ServiceConfig }, options?: { overwrite?: boolean; notify?: boolean }): Promise<ServiceInfo>;
  unregisterService(serviceId: string | { id: string }, notify?: boolean): Promise<void>;
  listServices(query?: string | ServiceQuery): Promise<ServiceInfo[]>;
  getService(query: string | ServiceQuery, options?: GetServiceOptions): Promise<RemoteService>;
  getServiceInfo?(query: string, options?: GetServiceOptions): Promise<ServiceInfo>;
  listClients?(workspace?: string): Promise<Array<{ id: string; workspace: string; client_id: string; user: { id: string } }>>;
  generateToken(config?: TokenConfig): Promise<string>;
  echo(data: any): Promise<any> | any;
  log(...args: any[]): Promise<void> | void;
  info(...args: any[]): Promise<void> | void;
  warning(...args: any[]): Promise<void> | void;
  error(...args: any[]): Promise<void> | void;
  critical(...args: any[]): Promise<void> | void;
  alert(message: string): Promise<void> | void;
  confirm(message: string): Promise<boolean> | boolean;
  prompt(message: string, defaultValue?: string): Promise<string | null> | string | null;
  showMessage(message: string): Promise<void> | void;
  showProgress(progress: number): Promise<void> | void;
  createWindow(config: WindowConfig): Promise<RemoteService | null>;
  getWindow(query: string | { id?: string; name?: string }): Promise<WindowInfo | null>;
  /** Run an app; resolves with its `default` service after its `setup()` (and `run()` for windows). */
  loadApp(config: AppConfig | string): Promise<RemoteService | null>;
  loadPlugin(config: AppConfig | string): Promise<RemoteService | null>;
  /** A running app by name, `{id}` or `{name}` (null if none); a URL string not running yet is loaded. */
  getApp(query: string | { id?: string; name?: string }): Promise<RemoteService | null>;
  getPlugin(query: string | { id?: string; name?: string }): Promise<RemoteService | null>;
  /** The running apps the caller may see. */
  listApps(): Promise<AppInfo[]>;
  /**
   * Stop an app: terminate its worker or remove its window. Its client disconnects, its
   * services go, calls in flight to it fail. Resolves true if an app was stopped.
   */
  closeApp(query: string | { id?: string; name?: string }): Promise<boolean>;
  emit(...args: any[]): Promise<void>;
  on(event: string, handler: (data: any) => void): void;
  off(event?: string, handler?: (data: any) => void): void;
  [member: string]: any;
}

/** The API `start()` resolves with: the root client (`default/root`, admin). */
export interface RootAPI extends HyphaAPI {
  id: "root";
  /** Events go to the HyphaCore's own bus. */
  emit(event: string, data?: any): Promise<void>;
  once(event: string, handler: (data: any) => void): void;
  /** Same as `hyphaCore.close()`. */
  close(): Promise<void>;
}

/** A client API from `hyphaCore.connect()`. */
export interface ClientAPI extends HyphaAPI {
  disconnect(): Promise<void>;
  export(api: Record<string, any>): Promise<void>;
  getServiceSchema(service: Record<string, any>): any;
  listApps(workspace?: string): Promise<ServiceInfo[]>;
  registerCodec(codec: { name: string; type?: any; encoder?: (v: any) => any; decoder?: (v: any) => any }): void;
  registerProbes(probes: Record<string, any>): Promise<ServiceInfo>;
  once(event: string, handler: (data: any) => void): void;
}

export interface ConnectConfig {
  /** Client id (default: random); `root` is reserved. */
  client_id?: string;
  workspace?: string;
  token?: string;
  method_timeout?: number;
  name?: string;
  [key: string]: unknown;
}

export interface Connection {
  id: string;
  workspace: string;
  client_id?: string;
  user_id?: string;
  /** Server connection id while connected. */
  conn?: number | null;
  /** The Worker or iframe window of a mounted client. */
  source?: unknown;
  user?: UserInfo;
  postMessage?: (message: unknown) => void;
}

export interface MountConfig {
  workspace?: string;
  client_id?: string;
  user_info?: Partial<UserInfo> & { id?: string };
  config?: Record<string, unknown>;
  /** ms to wait for hyphaClientReady and for the `default` service (default 60000). */
  timeout?: number;
  method_timeout?: number;
  /** Do not wait for the `default` service. */
  passive?: boolean;
}

export interface MountResult {
  workspace: string;
  client_id: string;
  connection: Connection;
  service: RemoteService | null;
}

export interface TokenClaims {
  sub: string;
  workspace?: string;
  client_id?: string;
  email?: string;
  roles: string[];
  scope: string;
  iat: number;
  exp: number;
  iss: string;
  aud: string;
}

export type HyphaCoreEvent =
  | "add_window"
  /** `closeApp` removed an app's window: `{id: window_id, name, app_id}`. */
  | "remove_window"
  | "connection_ready"
  | "client_ready"
  | "service_added"
  | "service_removed"
  | "client_connected"
  | "client_disconnected";

export declare class HyphaCore {
  /** url → running HyphaCore in this JS realm. */
  static servers: Record<string, HyphaCore>;
  constructor(config?: HyphaCoreConfig);

  readonly port: number;
  readonly host: string;
  readonly url: string;
  readonly wsUrl: string;
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
  /** The in-tab socket class hypha-rpc clients of this instance use. */
  readonly WebSocketClass: { new (url: string): unknown };
  readonly defaultServices: Record<string, (...args: any[]) => any>;

  start(config?: Record<string, never>): Promise<RootAPI>;
  connect(config?: ConnectConfig): Promise<ClientAPI>;
  reset(): Promise<RootAPI>;
  close(): Promise<void>;

  mountWorker(worker: { postMessage(message: any, transfer?: any): void; addEventListener(type: "message", listener: (event: { data: any }) => void): void; removeEventListener(type: "message", listener: (event: { data: any }) => void): void }, config?: MountConfig): Promise<MountResult>;
  /** Browser only. */
  mountIframe(iframe: HTMLIFrameElement | Window, config?: MountConfig): Promise<MountResult>;
  forceDisconnect(workspace: string, clientId: string, code?: number, reason?: string): Promise<void>;
  getWebsockets(): Record<string, unknown>;
  /** Claims of a token signed by this server; throws an Error with `code` "INVALID_TOKEN". */
  verifyToken(token: string): TokenClaims;

  on(event: HyphaCoreEvent | string, handler: (data: any) => void): void;
  once(event: HyphaCoreEvent | string, handler: (data: any) => void): void;
  off(event?: HyphaCoreEvent | string, handler?: (data: any) => void): void;
  emit(event: HyphaCoreEvent | string, data?: any): Promise<void>;
  waitFor(event: HyphaCoreEvent | string, timeout?: number): Promise<any>;
}

export declare function connectToServer(config: Record<string, any>): Promise<any>;
export declare const hyphaWebsocketClient: {
  connectToServer: typeof connectToServer;
  setupLocalClient(options: { enable_execution?: boolean; on_ready?: (api: any, config: any) => any }): Promise<any>;
  [key: string]: any;
};
