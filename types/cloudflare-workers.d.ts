// The one export of the Workers runtime module that this repository's Workers, examples and
// docs use; the runtime provides the module. An app types it with `wrangler types` or
// `@cloudflare/workers-types` instead.
declare module 'cloudflare:workers' {
  // biome-ignore lint/suspicious/noExplicitAny: each Worker's bindings are its own.
  export const env: any;
}
