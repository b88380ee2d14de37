import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * The live dashboard (SPEC §7, docs/dashboard.md): `GET /dashboard` serves a static
 * HTML shell; the page (src/analytics/dashboard/page, bundled by `npm run
 * build:dashboard` into `dist/dashboard.js` + `.css`) reads its token from the URL
 * fragment — never sent here — and connects to the gateway's own `/ws`. Nothing on
 * these routes needs a token: the data comes over the WebSocket, under the token's grants.
 */
export interface DashboardRouteOptions {
  /** Where `dashboard.js` and `dashboard.css` are (the repository's `dist/`). */
  distDir: string;
}

/** No inline script or style anywhere; the page talks only to its own origin and WebSockets. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self' ws: wss:",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

// Asset URLs are relative to the page, so the dashboard also works behind a path prefix.
const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Backbeat · live dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="dashboard/app.css">
<script type="module" src="dashboard/app.js"></script>
</head>
<body>
<noscript>The Backbeat dashboard needs JavaScript.</noscript>
<div id="app" aria-live="polite"></div>
</body>
</html>
`;

const ASSETS = {
  'app.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  'app.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
  // The bundles' sourceMappingURL comments name these, relative to the asset URLs.
  'dashboard.js.map': { file: 'dashboard.js.map', type: 'application/json; charset=utf-8' },
  'dashboard.css.map': { file: 'dashboard.css.map', type: 'application/json; charset=utf-8' },
} as const;

function securityHeaders(reply: FastifyReply): void {
  void reply
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cache-control', 'no-cache');
}

function notBuilt(reply: FastifyReply, what: string): FastifyReply {
  return reply.status(503).send({
    error: {
      code: 'unavailable',
      message: `the dashboard bundle (${what}) is not built: run \`npm run build:dashboard\``,
    },
  });
}

async function readAsset(distDir: string, file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(join(distDir, file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function dashboardRoutes(app: FastifyInstance, opts: DashboardRouteOptions): void {
  app.get(
    '/dashboard',
    {
      schema: {
        tags: ['analytics'],
        summary:
          'The live dashboard (HTML). Open /dashboard#token=JWT with an analytics:read token; data arrives over /ws',
        produces: ['text/html'],
      },
    },
    async (_req, reply) => {
      // The shell is static, but without the bundle the page could only fail: say so instead.
      const built = await stat(join(opts.distDir, ASSETS['app.js'].file)).then(
        (s) => s.isFile(),
        () => false,
      );
      if (!built) return notBuilt(reply, join(opts.distDir, ASSETS['app.js'].file));
      securityHeaders(reply);
      return reply.type('text/html; charset=utf-8').send(HTML);
    },
  );

  for (const [name, asset] of Object.entries(ASSETS)) {
    app.get(`/dashboard/${name}`, { schema: { hide: true } }, async (_req, reply) => {
      const body = await readAsset(opts.distDir, asset.file);
      if (body === undefined) return notBuilt(reply, join(opts.distDir, asset.file));
      securityHeaders(reply);
      return reply.type(asset.type).send(body);
    });
  }
}
