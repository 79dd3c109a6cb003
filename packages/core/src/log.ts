import type { Logger } from './types.js'

/**
 * Plain line logger. On a TTY a step shows "… title" and then its outcome with the time taken;
 * elsewhere (CI, containers) one line per event, so logs stay greppable.
 */
export function createLogger(opts: { verbose?: boolean; quiet?: boolean; stream?: NodeJS.WritableStream } = {}): Logger {
  const out = opts.stream ?? process.stderr
  const tty = (out as NodeJS.WriteStream).isTTY === true
  const write = (line: string) => {
    if (!opts.quiet) out.write(line + '\n')
  }
  return {
    info: write,
    warn: (m) => out.write(`warning: ${m}\n`),
    debug: (m) => {
      if (opts.verbose) write(`debug: ${m}`)
    },
    async step(title, work) {
      const t0 = performance.now()
      if (tty && !opts.quiet) out.write(`… ${title}`)
      try {
        const r = await work()
        const secs = ((performance.now() - t0) / 1000).toFixed(1)
        if (tty && !opts.quiet) out.write(`\r✔ ${title} (${secs}s)\n`)
        else write(`${title} done (${secs}s)`)
        return r
      } catch (err) {
        if (tty && !opts.quiet) out.write(`\r✘ ${title}\n`)
        else write(`${title} failed`)
        throw err
      }
    },
  }
}

export const silentLogger: Logger = createLogger({ quiet: true })
