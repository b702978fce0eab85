// The "ours (public)" target of bench/server-mode.sh: hypha-core-rs's HyphaCore, set up to
// give HTTP callers the access hypha-core 0.20.86 gives them, so that its performance scripts
// get answers instead of refusals. Only their import lines change: `HyphaCore` comes from here.
//
// hypha-core 0.20.86 runs an anonymous HTTP request as a caller in the URL's workspace
// (`default`), so it reaches the scripts' services, registered with the default visibility
// (`protected`), and it has no rate limit. hypha-core-rs refuses that (README, "Security rules of
// the HTTP API": without a token the caller acts from `ws-anonymous` and reaches `public` and
// `unlisted` services only, and each address gets 1,000 requests/s, burst 5,000). Here the
// services a script registers on the root API default to `visibility: "public"` and the HTTP
// rate limit is off (`http: {rateLimit: 0}`); everything else is the package as installed.
import { HyphaCore as HyphaCoreRs } from "hypha-core-rs";

export class HyphaCore extends HyphaCoreRs {
  constructor(config = {}) {
    super({ ...config, http: { rateLimit: 0, ...(config.http || {}) } });
  }

  async start(...args) {
    const api = await super.start(...args);
    const register = api.registerService;
    api.registerService = (service, ...rest) =>
      register.call(api, { ...service, config: { visibility: "public", ...((service && service.config) || {}) } }, ...rest);
    return api;
  }
}
