// The page side of imjoy-rpc, bundled on its own (dist/hypha-core-imjoy.mjs) and imported only
// when a legacy imjoy-rpc app appears (see legacy.js).
export { RPC } from "imjoy-rpc/src/rpc.js";
