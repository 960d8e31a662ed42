// The reference row of scripts/bench-server.sh (issue 14): a stock oidc-provider 9 answering the
// OAuth refresh-token grant, so gatehoused's refresh is measured beside a certified OpenID
// provider on the same machine, in the same run, under the same load generator.
//
//   NODE_ENV=production OP_BENCH_PORT=0 node bench.mjs
//
// Prints one line once it listens:  ready PORT REFRESH_TOKEN
// and then serves until killed. The client is `bench-client` / `bench-secret`
// (client_secret_basic). Each request is
//   POST /token  grant_type=refresh_token&refresh_token=REFRESH_TOKEN
// and is answered 200 with a new opaque access token (stored) and an RS256 ID token (scope
// `openid`), like the refresh a real relying party makes.
//
// Differences from op.mjs, on purpose: the default in-memory adapter (what a benchmark of the
// provider itself wants: no database), `rotateRefreshToken: false` so one refresh token can be
// replayed by every connection (with rotation the second use of a token revokes the grant), and
// the refresh token is minted in-process at start instead of through a browser login (the grant
// handler only looks at the stored token, its grant and the account).
import Provider from 'oidc-provider';
import { generateKeyPair, exportJWK } from 'jose';

const port = Number(process.env.OP_BENCH_PORT || 0);
const clientId = 'bench-client';
const accountId = 'bench-user';

const { privateKey: rsa } = await generateKeyPair('RS256', { extractable: true });
const jwks = { keys: [{ ...(await exportJWK(rsa)), kid: 'rs-1', use: 'sig', alg: 'RS256' }] };

const configuration = {
  clients: [{
    client_id: clientId,
    client_secret: 'bench-secret',
    redirect_uris: ['http://127.0.0.1:1/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks,
  claims: { openid: ['sub'] },
  features: { devInteractions: { enabled: false } },
  findAccount: async (ctx, sub) => ({ accountId: sub, async claims() { return { sub }; } }),
  // One refresh token for every request of the run (see the header).
  rotateRefreshToken: false,
  ttl: { AccessToken: 3600, IdToken: 3600, Grant: 86400, RefreshToken: 86400 },
};

const provider = new Provider('http://127.0.0.1', configuration);
provider.on('server_error', (ctx, err) => console.error('server_error', err));

// The grant and refresh token a code exchange would have stored.
const grant = new provider.Grant({ accountId, clientId });
grant.addOIDCScope('openid');
const grantId = await grant.save();
const client = await provider.Client.find(clientId);
const refreshToken = await new provider.RefreshToken({
  accountId,
  client,
  grantId,
  gty: 'authorization_code',
  scope: 'openid',
  authTime: Math.floor(Date.now() / 1000),
}).save();

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${server.address().port} ${refreshToken}`);
});
