// hypha-rpc's end-to-end encryption (`./crypto.js` of its sources), with tweetnacl loaded on
// first use. The build puts this module in place of hypha-rpc's own, whose synchronous
// `require("tweetnacl")` would put tweetnacl (~11 KB gzip) in every page; only clients that
// enable `encryption` need it. The exports and their contracts are hypha-rpc's: the hex helpers
// are synchronous, everything that needs tweetnacl is async already.

let loading = null;

/** tweetnacl, imported once (dist: the lazy chunk ./hypha-core-nacl.mjs; see build-js.mjs). */
function nacl() {
  if (!loading) {
    loading = import("./nacl.js").then(
      (module) => module.default,
      (e) => {
        loading = null;
        throw new Error(`cannot load tweetnacl for end-to-end encryption: ${e && e.message}`);
      },
    );
  }
  return loading;
}

/** 32 key bytes as 64 lowercase hex characters. */
export function publicKeyToHex(bytes) {
  let hex = "";
  for (const byte of bytes) hex += (byte < 16 ? "0" : "") + byte.toString(16);
  return hex;
}

/** 64 hex characters as 32 key bytes. */
export function publicKeyFromHex(hex) {
  const bytes = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** A Curve25519 keypair for crypto_box: `{privateKey, publicKey}`, 32 bytes each. */
export async function generateEncryptionKeypair() {
  const { box } = await nacl();
  const pair = box.keyPair();
  return { privateKey: pair.secretKey, publicKey: pair.publicKey };
}

/** crypto_box (Curve25519 + XSalsa20-Poly1305) with a fresh random nonce. */
export async function encryptPayload(myPrivateKey, theirPublicKey, plaintext) {
  const { box, randomBytes } = await nacl();
  const nonce = randomBytes(box.nonceLength);
  return { nonce, ciphertext: box(plaintext, nonce, theirPublicKey, myPrivateKey) };
}

/** crypto_box_open; throws when the ciphertext does not authenticate. */
export async function decryptPayload(myPrivateKey, theirPublicKey, nonce, ciphertext) {
  const { box } = await nacl();
  const plaintext = box.open(ciphertext, nonce, theirPublicKey, myPrivateKey);
  if (plaintext === null) throw new Error("Decryption failed");
  return plaintext;
}
