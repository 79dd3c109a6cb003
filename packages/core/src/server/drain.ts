import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { Server as NetServer, type Socket } from 'node:net'

/**
 * A connection this long without a request is closed by the drain. A client that has just had
 * an answer usually sends its next request within milliseconds; closing its connection in that
 * window is what turns a request into a reset, so the drain answers that request instead. A
 * second, not less: a client that stalls (a busy machine, a GC pause) between two requests must
 * not find its connection closed under it.
 */
const QUIET_MS = 1_000
const SWEEP_MS = 50
/** After our FIN, how long the client may take to send its own before the socket is let go. */
const LINGER_MS = 2_000
/** At the deadline, time for the 503s to reach the clients before the sockets are destroyed. */
const FLUSH_MS = 300

interface Conn {
  active: number
  /** When a request last started or ended, or bytes last arrived (as far as a sweep saw). */
  last: number
  bytesRead: number
  ending: boolean
}

export interface DrainResult {
  /** Requests still running at the deadline (answered with `late()`'s error). */
  readonly cutShort: number
  /** Connections still open at the deadline, destroyed. */
  readonly destroyed: number
}

/**
 * Graceful shutdown at the socket level, which fastify's close() and Node's server.close() do not
 * give: they destroy idle keep-alive connections at once, so a request the client sent just then
 * (or that sits unread in the kernel) ends in ECONNRESET. Here the listener closes, requests
 * already received and those arriving on open connections are answered with `Connection: close`
 * (Node then ends the connection after the answer), and connections that stay quiet are closed
 * with a FIN, never a reset. At the deadline whatever still runs is answered by `late()`.
 */
export class Drain {
  private readonly conns = new Map<Socket, Conn>()
  private readonly responses = new Set<ServerResponse>()
  private readonly aborts = new Set<(err: Error) => void>()
  private draining = false
  private expired = false
  private done?: Promise<DrainResult>

  constructor(
    private readonly server: Server,
    private readonly late: () => Error,
  ) {
    server.on('connection', (sock: Socket) => {
      const conn: Conn = { active: 0, last: performance.now(), bytesRead: 0, ending: false }
      this.conns.set(sock, conn)
      sock.once('close', () => this.conns.delete(sock))
    })
    // Before fastify's listener, so the answer is marked before any of it is written.
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      const conn = this.conns.get(req.socket)
      if (conn) {
        conn.active++
        conn.last = performance.now()
      }
      if (this.draining) res.shouldKeepAlive = false
      this.responses.add(res)
      res.once('close', () => {
        this.responses.delete(res)
        if (conn) {
          conn.active--
          conn.last = performance.now()
        }
      })
    })
  }

  /** `work`, unless the drain's deadline comes first: then `late()`'s error. */
  race<T>(work: Promise<T>): Promise<T> {
    if (this.expired) {
      work.catch(() => {})
      return Promise.reject(this.late())
    }
    return new Promise<T>((resolve, reject) => {
      this.aborts.add(reject)
      work.then(resolve, reject).finally(() => this.aborts.delete(reject))
    })
  }

  /** Stops accepting and drains; resolves once no connection is left, or at `graceMs`. */
  close(graceMs: number): Promise<DrainResult> {
    this.done ??= this.run(graceMs)
    return this.done
  }

  private async run(graceMs: number): Promise<DrainResult> {
    // Connections the kernel has completed but Node not yet accepted are reset when the listener
    // closes; the poll phase after this tick accepts those that are ready (setImmediate runs
    // after it). Then the listener before the first `Connection: close`: a client told to go
    // reconnects and is refused, instead of landing in the accept queue of a closing listener.
    await new Promise((r) => setImmediate(r))
    if (this.server.listening) NetServer.prototype.close.call(this.server)
    this.draining = true
    for (const res of this.responses) if (!res.headersSent) res.shouldKeepAlive = false
    return new Promise((resolve) => {
      let deadline: NodeJS.Timeout | undefined
      const sweep = setInterval(() => this.sweep(finish), SWEEP_MS)
      const finish = (result: DrainResult = { cutShort: 0, destroyed: 0 }) => {
        clearInterval(sweep)
        clearTimeout(deadline)
        resolve(result)
      }
      deadline = setTimeout(() => {
        clearInterval(sweep)
        this.expired = true
        const cutShort = this.aborts.size
        for (const abort of [...this.aborts]) abort(this.late())
        setTimeout(() => {
          const destroyed = this.conns.size
          for (const sock of this.conns.keys()) sock.destroy()
          finish({ cutShort, destroyed })
        }, FLUSH_MS)
      }, graceMs)
      this.sweep(finish)
    })
  }

  private sweep(finish: () => void): void {
    if (this.conns.size === 0) return finish()
    const now = performance.now()
    const quiet: [Socket, Conn][] = []
    for (const [sock, conn] of this.conns) {
      // Bytes of a request whose headers are not complete yet count as activity too.
      if (sock.bytesRead !== conn.bytesRead) {
        conn.bytesRead = sock.bytesRead
        conn.last = now
      }
      if (!conn.ending && conn.active === 0 && now - conn.last >= QUIET_MS) quiet.push([sock, conn])
    }
    if (!quiet.length) return
    // Timers run before the loop polls for I/O: after a stall (a busy machine, a long GC) a request
    // may be waiting unread on a connection that looks quiet. setImmediate runs after that poll.
    setImmediate(() => {
      for (const [sock, conn] of quiet) {
        if (conn.ending || conn.active > 0 || sock.bytesRead !== conn.bytesRead || sock.destroyed) continue
        conn.ending = true
        sock.end()
        setTimeout(() => sock.destroy(), LINGER_MS).unref()
      }
    })
  }
}
