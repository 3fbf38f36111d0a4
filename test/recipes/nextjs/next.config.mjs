import { fileURLToPath } from 'node:url';

// The monorepo's root. pnpm links @ssekit/core from packages/core, outside this app's
// directory: the bundler may only read files under its root, and output tracing must find
// the package's files there too.
const root = fileURLToPath(new URL('../../..', import.meta.url));

/** @type {import('next').NextConfig} */
const nextConfig = {
  // In this repo @ssekit/core's exports point at its TypeScript sources: compile them (the
  // published package ships JavaScript, which needs none of this).
  transpilePackages: ['@ssekit/core'],
  outputFileTracingRoot: root,
  // The repo's TypeScript is checked as Node.js ES modules (NodeNext), which write `./x.js` for
  // `./x.ts`: @ssekit/core's sources and this app's imports of lib/ do. webpack maps these;
  // Turbopack (next 16.5) cannot yet (vercel/next.js#82945), so this app builds with
  // `next build --webpack`.
  experimental: { extensionAlias: { '.js': ['.ts', '.js'] } },
};

export default nextConfig;
