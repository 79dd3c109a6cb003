// Graceful shutdown with a real process and real sockets: SIGTERM while a request is in flight
// stops accepting connections at once, lets the request finish with 200, and exits 0.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const CORE = pathToFileURL(fileURLToPath(new URL('../../dist/index.js', import.meta.url))).href
const RUN_MS = 1500

const MANIFEST = `name: slow
models:
  slow:
    runtime: slow
    path: model.bin
endpoints:
  predict:
    model: slow
    input:
      features:
        x: { type: number }
    postprocess:
      - op: select
        output: y
`

// The served process: the real server and shutdown handling from @mlx/core's build, with a model
// whose run() takes RUN_MS and says on stdout when it starts (so the test signals mid-request).
const SCRIPT = `
import { createLogger, createServer, installGracefulShutdown, loadProject } from ${JSON.stringify(CORE)}

const slow = {
  name: 'slow',
  async load() {
    return {
      inputs: [{ name: 'x', dtype: 'float64', shape: [-1] }],
      outputs: [{ name: 'y', dtype: 'float64', shape: [-1] }],
      async run(feeds) {
        process.stdout.write('run-start\\n')
        await new Promise((r) => setTimeout(r, ${RUN_MS}))
        const x = feeds.x.data
        return { y: { dtype: 'float64', shape: [x.length], data: Float64Array.from(x, (v) => v * 2) } }
      },
      async dispose() {
        process.stderr.write('disposed\\n')
      },
    }
  },
}

const log = createLogger({ stream: process.stderr })
const project = await loadProject(process.argv[2])
const server = createServer(project, { runtime: () => slow, log })
const url = await server.listen(0, '127.0.0.1')
await server.ready
installGracefulShutdown(server, log)
process.stdout.write(JSON.stringify({ url }) + '\\n')
`

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mlx-shutdown-'))
  await writeFile(path.join(dir, 'mlx.yaml'), MANIFEST)
  await writeFile(path.join(dir, 'model.bin'), 'not a real model: the test runtime ignores it\n')
  await writeFile(path.join(dir, 'serve.mjs'), SCRIPT)
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Resolves with the first stdout line matching `re`. */
function waitForLine(child: ChildProcessWithoutNullStreams, re: RegExp, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => reject(new Error(`no stdout line matching ${re} within ${timeoutMs}ms; got: ${buf}`)), timeoutMs)
    const onData = (d: Buffer) => {
      buf += d.toString()
      const line = buf.split('\n').find((l) => re.test(l))
      if (line !== undefined) {
        clearTimeout(timer)
        child.stdout.off('data', onData)
        resolve(line)
      }
    }
    child.stdout.on('data', onData)
  })
}

/** Fails with a message instead of hanging until the test timeout. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms}ms`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/**
 * 'refused' if nothing listens on the port, 'accepted' if a TCP connection opens, 'reset' if the
 * kernel queued the connection just as the listener closed and then reset it (a busy machine hits
 * that window; the next try sees the closed port).
 */
function tryConnect(port: number): Promise<'refused' | 'accepted' | 'reset'> {
  return new Promise((resolve, reject) => {
    const sock = connect({ port, host: '127.0.0.1' })
    sock.once('connect', () => {
      sock.destroy()
      resolve('accepted')
    })
    sock.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? resolve('refused') : err.code === 'ECONNRESET' ? resolve('reset') : reject(err)))
  })
}

describe('graceful shutdown on SIGTERM', () => {
  it('finishes the in-flight request with 200, refuses new connections, exits 0', async () => {
    const child = spawn(process.execPath, [path.join(dir, 'serve.mjs'), dir], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
    )
    try {
      const { url } = JSON.parse(await waitForLine(child, /^\{"url"/)) as { url: string }
      const port = Number(new URL(url).port)
      expect(await tryConnect(port)).toBe('accepted')

      // A keep-alive client (fetch pools connections), as real clients are.
      const started = waitForLine(child, /^run-start$/)
      const inFlight = fetch(`${url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ x: [1, 2, 3] }) })
      let answeredAt: number | undefined
      void inFlight.then(() => (answeredAt = performance.now()), () => {})
      await started
      const signalledAt = performance.now()
      child.kill('SIGTERM')

      // The listener closes at once, long before the in-flight request is done.
      let state: 'refused' | 'accepted' | 'reset' = 'accepted'
      for (let i = 0; i < 40 && state !== 'refused'; i++) {
        state = await tryConnect(port)
        if (state !== 'refused') await new Promise((r) => setTimeout(r, 25))
      }
      expect(state).toBe('refused')
      expect(answeredAt, 'the listener should close before the in-flight request finishes').toBeUndefined()
      expect(performance.now() - signalledAt).toBeLessThan(RUN_MS)

      const res = await within(inFlight, 10_000, 'the in-flight response')
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual([2, 4, 6])

      // A keep-alive socket left open after the response would hold the process up to 72 s.
      const { code, signal, at } = await within(exited, 10_000, 'exit after SIGTERM')
      expect(signal).toBeNull()
      expect(code, stderr).toBe(0)
      // It waited for the request, then exited promptly (not after a keep-alive timeout).
      expect(at - signalledAt).toBeGreaterThan(RUN_MS - 200)
      expect(at - answeredAt!).toBeLessThan(2_000)
      expect(stderr).toContain('SIGTERM received: finishing in-flight requests')
      expect(stderr).toContain('disposed')
      expect(await tryConnect(port)).toBe('refused')
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  })
})
