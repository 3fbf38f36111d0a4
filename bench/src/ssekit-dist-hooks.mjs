// Module resolution hook: `@ssekit/<package>` and `@ssekit/core/node` → the package's dist.
const SSEKIT = /^@ssekit\/(core|express|koa|hono)(\/node)?$/;

export async function resolve(specifier, context, next) {
  const match = SSEKIT.exec(specifier);
  if (!match) return next(specifier, context);
  const url = new URL(`../../packages/${match[1]}/dist${match[2] ?? ''}/index.js`, import.meta.url);
  return { url: url.href, shortCircuit: true };
}
