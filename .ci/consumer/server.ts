import Koa from 'koa';
import mount from 'koa-mount';
import { Provider } from 'oidc-provider';
import { createCimd } from 'oidc-provider-cimd';

const issuer = process.env.ISSUER ?? 'http://localhost:3000';
const cookieKeys = [process.env.COOKIE_SECRET ?? 'change-me-to-a-long-random-secret'];

const cimd = createCimd({
  issuer,
  onEvent: (event) => console.log(JSON.stringify(event)), // one line per client resolution
  // cache: await createRedisCache(process.env.REDIS_URL!), // share documents between instances
});

const provider = new Provider(
  issuer,
  cimd.configure({
    // adapter: MyAdapter,                     // your storage; CIMD is consulted after it
    clients: [], // static clients are looked up first
    cookies: { keys: cookieKeys },
    // jwks: { keys: [/* your private signing keys */] },
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    pkce: { required: () => true },
    features: {
      registration: { enabled: true }, // Dynamic Client Registration, independent of CIMD
      // devInteractions: { enabled: false },  // once you mount your own login and consent pages
    },
  }),
);

const app = new Koa();
app.keys = cookieKeys; // mounted with koa-mount, the provider sets its cookies through this app
// app.use(yourInteractionRoutes(provider).routes());  // login/consent pages, before the provider
app.use(mount(provider));
app.listen(Number(process.env.PORT ?? 3000), () => console.log(`listening on ${issuer}`));
