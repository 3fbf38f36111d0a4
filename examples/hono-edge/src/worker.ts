// Cloudflare Workers: `pnpm start:workerd` runs it locally in workerd (see workerd.capnp).
// The Hono app is the Worker: Workers call its `fetch(request, env, ctx)`.
import { createApp } from './app.js';

export default createApp('Cloudflare Workers (workerd)');
