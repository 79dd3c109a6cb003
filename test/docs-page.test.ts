// The docs page in a real browser (Debian's chromium, driven by playwright-core): Swagger UI loads
// from the server's own assets, shows /predict_function with an example body from the reference
// data, and "Execute" gets a prediction back. Chromium comes from scripts/setup-test-env.sh.
import { existsSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadProject, serveProject, silentLogger, type MlxServer } from '@mlx/core'
import { onnxRuntime } from '@mlx/runtime-onnx'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOT = path.join(tmpdir(), 'mlx-docs-page.png')

let browser: Browser | undefined
let server: MlxServer | undefined
let url: string

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the docs page test drives a real browser. Run \`bash scripts/setup-test-env.sh\` (it installs Debian's chromium), then re-run the tests.`)
  }
  const project = await loadProject(path.join(ROOT, 'examples/titanic'))
  ;({ server, url } = await serveProject(project, { runtime: () => onnxRuntime, port: 0, host: '127.0.0.1', log: silentLogger }))
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
})
afterAll(async () => {
  await browser?.close()
  await server?.close()
})

describe('GET /docs in chromium', () => {
  it('renders Swagger UI from local assets, with the reference-data example, and Execute gets a prediction', async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 1400 } })
    const problems: string[] = []
    const outside: string[] = []
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
    page.on('console', (m) => m.type() === 'error' && problems.push(`console error: ${m.text()}`))
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`))
    // The page must work offline: nothing may be fetched from anywhere but the server itself.
    await page.route('**/*', (route) => {
      const u = route.request().url()
      if (u.startsWith(url)) return route.continue()
      outside.push(u)
      return route.abort()
    })

    const res = await page.goto(`${url}/docs`)
    expect(res?.status()).toBe(200)
    await expect(page.title()).resolves.toBe('titanic — API docs')

    const op = page.locator('#operations-endpoints-predict_function')
    await op.waitFor({ state: 'visible', timeout: 20_000 })
    await expect(op.locator('.opblock-summary-path').innerText()).resolves.toBe('/predict_function')
    await expect(op.locator('.opblock-summary-method').innerText()).resolves.toBe('POST')
    await expect(page.locator('.info .title').innerText()).resolves.toMatch(/^titanic/)

    await op.locator('.opblock-summary').click()
    const body = op.locator('.opblock-body')
    await body.waitFor({ state: 'visible' })
    await expect(body.innerText()).resolves.toContain('Column-oriented (from the reference data)')

    // The example body is the first two rows of data/reference.parquet, column-wise.
    const editor = op.locator('textarea.body-param__text')
    await editor.waitFor({ state: 'visible' })
    const example = JSON.parse(await editor.inputValue()) as Record<string, unknown[]>
    expect(example.fare).toEqual([11.1333, 26.55])
    expect(example.class).toEqual(['Third', 'First'])
    expect(example.embark_town).toEqual(['Southampton', 'Southampton'])

    await page.screenshot({ path: SCREENSHOT })
    expect((await stat(SCREENSHOT)).size).toBeGreaterThan(20_000)
    console.log(`docs page screenshot: ${SCREENSHOT}`)

    // Try it out is on: Execute posts the example and shows the server's answer.
    await op.locator('button.execute').click()
    const status = op.locator('.live-responses-table tbody .response-col_status').first()
    await status.waitFor({ state: 'visible', timeout: 15_000 })
    await expect(status.innerText()).resolves.toBe('200')
    const answer = JSON.parse(await op.locator('.live-responses-table tbody .response-col_description pre.microlight').first().innerText()) as number[]
    expect(answer).toHaveLength(2)
    for (const p of answer) expect(p).toBeGreaterThan(0.5) // two women from the reference data, both survived

    expect(problems).toEqual([])
    expect(outside).toEqual([])
    await page.close()
  })
})
