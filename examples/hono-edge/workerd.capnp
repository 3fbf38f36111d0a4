# workerd's own config for the example: `pnpm start:workerd` (or `workerd serve workerd.capnp`
# after `pnpm build`) serves dist/worker.js on http://127.0.0.1:8787/, as `wrangler dev` would.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [(name = "worker", esModule = embed "dist/worker.js")],
  compatibilityDate = "2026-11-01",
);
