// Graceful shutdown with a real process and real sockets: SIGTERM while a request is in flight
// stops accepting connections at once, lets the request finish with 200, and exits 0; keep-alive
// clients see no reset; server.shutdownGraceSeconds bounds the drain.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { connect, type Socket } from 'node:net'
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
        if (!process.env.QUIET_RUNS) process.stdout.write('run-start\\n')
        await new Promise((r) => setTimeout(r, Number(process.env.RUN_MS ?? ${RUN_MS})))
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
/** The same project with a 2 s drain and a request timeout far longer than that. */
let shortGrace: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mlx-shutdown-'))
  await writeFile(path.join(dir, 'mlx.yaml'), MANIFEST)
  await writeFile(path.join(dir, 'model.bin'), 'not a real model: the test runtime ignores it\n')
  await writeFile(path.join(dir, 'serve.mjs'), SCRIPT)
  shortGrace = path.join(dir, 'short-grace')
  await mkdir(shortGrace)
  await writeFile(path.join(shortGrace, 'mlx.yaml'), `${MANIFEST}server:\n  shutdownGraceSeconds: 2\n  requestTimeoutMs: 60000\n`)
  await writeFile(path.join(shortGrace, 'model.bin'), 'not a real model\n')
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

interface Served {
  child: ChildProcessWithoutNullStreams
  url: string
  port: number
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
  stderr(): string
}

async function serve(project: string, env: Record<string, string> = {}): Promise<Served> {
  const child = spawn(process.execPath, [path.join(dir, 'serve.mjs'), project], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
  )
  const early = exited.then(({ code }) => Promise.reject(new Error(`the server exited with ${code} before listening: ${stderr}`)))
  early.catch(() => {})
  const { url } = JSON.parse(await Promise.race([waitForLine(child, /^\{"url"/, 30_000), early])) as { url: string }
  return { child, url, port: Number(new URL(url).port), exited, stderr: () => stderr }
}

/** An answer, or the error's code and whether the request went on a kept-alive connection. */
type Outcome = { status: number; close: boolean; sentAt: number } | { error: string; reused?: boolean; sentAt: number }

/** One POST on `agent`; never rejects: a failure is the error's code. */
function post(agent: http.Agent, port: number): Promise<Outcome> {
  const sentAt = performance.now()
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/predict', method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume()
      res.once('end', () => resolve({ status: res.statusCode!, close: res.headers.connection === 'close', sentAt }))
      res.once('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message, sentAt }))
    })
    req.once('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message, reused: req.reusedSocket, sentAt }))
    req.end(JSON.stringify({ x: [1, 2] }))
  })
}

/** A raw keep-alive connection that sends one request, reads the answer and then stays idle. */
function idleConnection(port: number): Promise<{ sock: Socket; ended: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const sock = connect({ port, host: '127.0.0.1' })
    const body = JSON.stringify({ x: [1] })
    let seen = ''
    const ended = new Promise<string>((done) => {
      sock.once('end', () => done('end'))
      sock.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message))
    })
    sock.once('connect', () => sock.write(`POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`))
    const onData = (d: Buffer) => {
      seen += d
      if (/\r\n\r\n\[2\]$/.test(seen)) {
        sock.off('data', onData)
        resolve({ sock, ended })
      }
    }
    sock.on('data', onData)
    sock.once('error', reject)
  })
}

describe('draining keep-alive connections on SIGTERM', () => {
  const CLIENTS = 32
  const MAX_REQUESTS = 400

  it('answers every request of 32 busy keep-alive clients and closes idle connections cleanly: no resets over 5 runs', async () => {
    for (let run = 0; run < 5; run++) {
      const s = await serve(dir, { RUN_MS: '3', QUIET_RUNS: '1' })
      try {
        const idle = await Promise.all([0, 1, 2, 3].map(() => idleConnection(s.port)))
        const outcomes: Outcome[] = []
        /** Per client, its last answer before the request that failed. */
        const lasts: Outcome[] = []
        let warm = 0
        const clients = Array.from({ length: CLIENTS }, async () => {
          const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
          try {
            let last: Outcome | undefined
            for (let i = 0; i < MAX_REQUESTS; i++) {
              const o = await post(agent, s.port)
              outcomes.push(o)
              if ('error' in o) break
              last = o
              if (i === 1) warm++
            }
            if (last) lasts.push(last)
          } finally {
            agent.destroy()
          }
        })
        // Signal once every client has its connection and has been answered twice on it: requests
        // are in flight and connections busy. (A connection still in the kernel's accept queue
        // when the listener closes is reset by the kernel; that is not a keep-alive client.)
        for (let i = 0; i < 1000 && warm < CLIENTS; i++) await new Promise((r) => setTimeout(r, 10))
        expect(warm, 'the clients got going').toBe(CLIENTS)
        const signalledAt = performance.now()
        s.child.kill('SIGTERM')
        await within(Promise.all(clients), 15_000, `run ${run}: the clients finishing`)
        const { code, at } = await within(s.exited, 10_000, `run ${run}: exit after SIGTERM`)
        expect(code, s.stderr()).toBe(0)

        const errors = outcomes.filter((o): o is Extract<Outcome, { error: string }> => 'error' in o)
        const tally: Record<string, number> = {}
        for (const o of outcomes) tally['error' in o ? o.error : String(o.status)] = (tally['error' in o ? o.error : String(o.status)] ?? 0) + 1
        const summary = JSON.stringify(tally)
        // Refused is how a closed listener answers a new connection; anything else left a request unanswered.
        const unanswered = errors.filter((o) => o.error !== 'ECONNREFUSED').map((o) => ({ ...o, sentAt: `${Math.round(o.sentAt - signalledAt)} ms after the signal` }))
        expect(unanswered, `run ${run}: ${summary}`).toEqual([])
        expect(outcomes.filter((o) => 'status' in o && o.status !== 200), summary).toEqual([])
        // Each client's last answer told it to go (Connection: close) and the next was refused: the
        // drain answered the requests that came on open connections instead of closing them.
        expect(lasts.filter((o) => !('status' in o && o.close)), summary).toEqual([])
        for (const { ended } of idle) expect(await within(ended, 5_000, 'the idle connection ending')).toBe('end')
        // Idle connections go after a quiet second (drain.ts), not after keepAliveTimeout (72 s).
        expect(at - signalledAt).toBeLessThan(5_000)
      } finally {
        if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL')
      }
    }
  }, 120_000)
})

describe('server.shutdownGraceSeconds', () => {
  it('bounds the drain: a request that would take 45 s gets a 503 naming the setting, and the process exits soon after', async () => {
    const s = await serve(shortGrace, { RUN_MS: '45000' })
    try {
      const started = waitForLine(s.child, /^run-start$/)
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
      const slow = new Promise<{ status: number; body: string; at: number }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: s.port, path: '/predict', method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          let body = ''
          res.on('data', (d) => (body += d))
          res.once('end', () => resolve({ status: res.statusCode!, body, at: performance.now() }))
        })
        req.once('error', reject)
        req.end(JSON.stringify({ x: [1] }))
      })
      await started
      const signalledAt = performance.now()
      s.child.kill('SIGTERM')
      const res = await within(slow, 6_000, 'the answer to the slow request')
      agent.destroy()
      expect(res.status).toBe(503)
      expect(JSON.parse(res.body)).toEqual({ detail: expect.stringContaining('server.shutdownGraceSeconds (2 s)') })
      expect(res.at - signalledAt).toBeGreaterThan(1_800)
      const { code, at } = await within(s.exited, 6_000, 'exit after SIGTERM')
      expect(code, s.stderr()).toBe(0)
      expect(at - signalledAt).toBeLessThan(4_000)
      expect(s.stderr()).toMatch(/shutdownGraceSeconds/)
    } finally {
      if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL')
    }
  })
})
