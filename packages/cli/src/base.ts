import { Command, Flags } from '@oclif/core'
import { createLogger, formatError, isMlxError, secrets, type Logger } from '@mlx/core'

/**
 * Every mlx command: --json prints exactly one JSON object on stdout (what run() returns, or
 * {"error": ...}); errors are one paragraph with a hint and a non-zero exit; --verbose adds stacks.
 */
export abstract class MlxCommand extends Command {
  static override enableJsonFlag = true
  static override baseFlags = {
    verbose: Flags.boolean({ description: 'Show debug output and stack traces.', default: false, helpGroup: 'GLOBAL' }),
  }

  private logger?: Logger

  protected get out(): Logger {
    this.logger ??= createLogger({ verbose: this.argv.includes('--verbose'), quiet: this.jsonEnabled() })
    return this.logger
  }

  /** Human output to stdout, suppressed under --json (the JSON object is the output then). */
  protected say(text: string): void {
    if (!this.jsonEnabled()) process.stdout.write(secrets.redact(text) + '\n')
  }

  /** --json output passes through the same redaction as every other line. */
  protected override toSuccessJson(result: unknown): unknown {
    return secrets.redactValue(result)
  }

  protected override async catch(err: Error & { oclif?: { exit?: number }; code?: string }): Promise<unknown> {
    // oclif's own exits (help, version) pass through untouched.
    if (err.oclif?.exit === 0 || err.code === 'EEXIT') throw err
    const usage = !isMlxError(err) && err.oclif !== undefined
    if (this.jsonEnabled()) {
      const e = err as { code?: string; hint?: string }
      process.stdout.write(secrets.redact(JSON.stringify({ error: { code: isMlxError(err) ? e.code : usage ? 'USAGE' : 'INTERNAL', message: err.message, ...(e.hint ? { hint: e.hint } : {}) } })) + '\n')
    } else if (usage) {
      process.stderr.write(`error[USAGE]: ${err.message}\n  hint: see \`mlx ${this.id ?? ''} --help\`.\n`)
    } else {
      // Every secret a context handed out is masked, whichever layer the message came from.
      process.stderr.write(secrets.redact(formatError(err, this.argv.includes('--verbose'))) + '\n')
    }
    return this.exit(usage || (isMlxError(err) && err.code === 'USAGE') ? 2 : 1)
  }
}
