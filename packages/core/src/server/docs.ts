import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'

/** swagger-ui-dist ships the browser assets inside the npm package: nothing is fetched at run time. */
const require = createRequire(import.meta.url)
const assetsDir = path.dirname(require.resolve('swagger-ui-dist/package.json'))

const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
}

export function isDocsAsset(name: string): boolean {
  return Object.hasOwn(ASSETS, name)
}

const cache = new Map<string, Buffer>()
export async function docsAsset(name: string): Promise<{ body: Buffer; type: string }> {
  let body = cache.get(name)
  if (!body) {
    body = await readFile(path.join(assetsDir, name))
    cache.set(name, body)
  }
  return { body, type: ASSETS[name]! }
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

export function docsPage(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} — API docs</title>
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`
}

/** Kept out of the HTML so a strict Content-Security-Policy (no inline script) still works. */
export const DOCS_INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  tryItOutEnabled: true,
  displayRequestDuration: true,
});
`
