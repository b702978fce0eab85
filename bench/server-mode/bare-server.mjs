// The "bare" target of bench/server-mode.sh: the least a server can do in hypha-core 0.20.86's
// performance scripts, as a column to read the others against. `HyphaCore.start()` listens with
// a bare `Deno.serve` handler that looks the function up in the registered service by the URL's
// path and calls it with the query's values in order (`math.multiply?a=9&b=22` → multiply("9",
// "22")), then answers its result as JSON. No workspaces, identities, permission checks, rate
// limits, kwargs or errors worth the name. The scripts load it with only their two import lines
// changed, as they load the reference and ours.
export class DenoWebSocketServer {}

export class HyphaCore {
  constructor(config = {}) {
    this.host = config.host || "localhost";
    this.port = config.port || 8080;
    this.services = new Map();
    this.server = null;
  }

  async start() {
    const listening = Promise.withResolvers();
    this.server = Deno.serve(
      { hostname: this.host, port: this.port, onListen: listening.resolve },
      (request) => this.handle(request),
    );
    await listening.promise;
    return {
      registerService: async (service) => {
        this.services.set(service.id, service);
        return { id: `default/root:${service.id}` };
      },
    };
  }

  async handle(request) {
    const url = new URL(request.url);
    // /{workspace}/services/{service}/{function.path}
    const [, , kind, serviceId, path] = url.pathname.split("/");
    let target = kind === "services" ? this.services.get(serviceId) : undefined;
    for (const key of (path || "").split(".")) target = target == null ? undefined : target[key];
    if (typeof target !== "function") return new Response("not found", { status: 404 });
    const result = await target(...url.searchParams.values());
    return new Response(JSON.stringify(result), { headers: { "content-type": "application/json" } });
  }

  close() {
    if (this.server) this.server.shutdown();
    this.server = null;
  }
}
