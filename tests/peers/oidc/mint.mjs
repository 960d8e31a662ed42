// ID-token minter for tests: signs whatever claims a test asks for with panva's `jose` (the
// library oidc-provider signs with), so the server under test verifies tokens made by a real
// JOSE implementation, not by our own signer. Also serves the public JWKS.
// Env: MINT_PORT (listen port on 127.0.0.1).
//   GET  /jwks                          {"keys": [RS256 public key, kid "mint-rs-1"]}
//   POST /mint {"claims": {...}}        a JWT with these claims (JSON.stringify order)
//   POST /mint {"payload_raw": "..."}   the payload bytes as given (e.g. a duplicate member)
//   POST /mint {"header_raw": "...", "claims"|"payload_raw": ...}
//        the protected header as given; jose only takes header objects, so this one is signed
//        with node:crypto's RSASSA-PKCS1-v1_5 SHA-256 (what RS256 is) over the same input.
import { createServer } from 'node:http';
import { sign as rsaSign, KeyObject } from 'node:crypto';
import { CompactSign, generateKeyPair, exportJWK } from 'jose';

const port = Number(process.env.MINT_PORT || 9410);
const kid = 'mint-rs-1';
const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'RS256' }] };
const b64 = (s) => Buffer.from(s).toString('base64url');

async function mint(req) {
  const payload = req.payload_raw ?? JSON.stringify(req.claims ?? {});
  if (req.header_raw !== undefined) {
    const input = `${b64(req.header_raw)}.${b64(payload)}`;
    const sig = rsaSign('sha256', Buffer.from(input), KeyObject.from(privateKey));
    return `${input}.${sig.toString('base64url')}`;
  }
  return new CompactSign(new TextEncoder().encode(payload))
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid })
    .sign(privateKey);
}

createServer(async (req, res) => {
  try {
    if (req.method === 'GET' && req.url === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(jwks));
    }
    if (req.method === 'POST' && req.url === '/mint') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const token = await mint(JSON.parse(body));
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end(token);
    }
    res.writeHead(404);
    res.end();
  } catch (e) {
    console.error(e);
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(String(e));
  }
}).listen(port, '127.0.0.1', () => console.log(`jose minter listening on ${port}`));
