// tweetnacl as an ES module: the lazy chunk crypto-lazy.js imports (dist/hypha-core-nacl.mjs).
import nacl from "tweetnacl";

export default nacl;
