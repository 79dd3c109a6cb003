import { existsSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { GoogleAuth } from 'google-auth-library'
import { MlxError, networkReason, type RetryDecision, type TargetContext } from '@mlx/core'

export const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform'

const ADC_HINT =
  'run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account (or workload-identity) JSON file; on Google Cloud (Cloud Build, GCE, GKE) the metadata server is used.'

export interface Adc {
  readonly auth: GoogleAuth
  readonly project: string
  /** An OAuth access token for Artifact Registry (user oauth2accesstoken); never logged. */
  accessToken(): Promise<string>
}

export interface AdcOptions {
  /** The context's retry loop: google-auth-library's calls get its retries and per-call deadline (it sets none of its own). */
  readonly retry?: TargetContext['retry']
  /** Registers what must never be printed: the access token, the secrets of the credentials file. */
  readonly secret?: (value: string | undefined) => void
}

/** Where google-auth-library finds the credentials, in its order, as far as a message needs it. */
interface Source {
  /** 'GOOGLE_APPLICATION_CREDENTIALS=/path', 'the gcloud file /path', 'the metadata server'. */
  readonly name: string
  /** The URL the access token comes from. */
  readonly tokenUrl: string
}

const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token'

type CredentialsFile = {
  type?: string
  token_uri?: string
  token_url?: string
  private_key?: string
  client_secret?: string
  refresh_token?: string
  credential_source?: { file?: string }
}

/**
 * The credentials file google-auth-library will read (GOOGLE_APPLICATION_CREDENTIALS, else
 * gcloud's application-default file), with its secrets registered before any call can echo them:
 * the key, the client secret, the refresh token, a workload identity's subject token.
 */
function locate(secret: AdcOptions['secret']): Source {
  // google-auth-library reads the process environment itself, not ctx.credentials: so does this.
  const env = process.env
  const explicit = env.GOOGLE_APPLICATION_CREDENTIALS || undefined
  const gcloud = path.join(env.CLOUDSDK_CONFIG || path.join(env.HOME || os.homedir(), '.config', 'gcloud'), 'application_default_credentials.json')
  const file = explicit ?? (existsSync(gcloud) ? gcloud : undefined)
  if (!file) {
    const host = env.GCE_METADATA_HOST || env.GCE_METADATA_IP || '169.254.169.254'
    return { name: 'the metadata server', tokenUrl: `http://${host}/computeMetadata/v1/instance/service-accounts/default/token` }
  }
  const name = explicit ? `GOOGLE_APPLICATION_CREDENTIALS=${file}` : `the gcloud file ${file}`
  let json: CredentialsFile = {}
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as CredentialsFile
  } catch {
    return { name, tokenUrl: GOOGLE_TOKEN_URL } // google-auth-library says what is wrong with it
  }
  for (const v of [json.private_key, json.client_secret, json.refresh_token]) secret?.(v)
  if (json.credential_source?.file) {
    try {
      secret?.(readFileSync(json.credential_source.file, 'utf8').trim())
    } catch {
      // not there yet: google-auth-library reports it
    }
  }
  return { name, tokenUrl: json.token_url ?? json.token_uri ?? GOOGLE_TOKEN_URL }
}

const UNREACHABLE = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE|UND_ERR|socket hang up|fetch failed|network|other side closed|no answer within|aborted/i

/** A call that never reached an answer: refused, reset, timed out (google-auth-library's errors, or the context's deadline). */
function unreachable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown }; response?: unknown }
  if (e?.response) return false
  return UNREACHABLE.test(`${String(e?.code ?? '')} ${String(e?.message ?? '')} ${String(e?.cause?.code ?? '')} ${String(e?.cause?.message ?? '')}`)
}

const status = (err: unknown) => (err as { response?: { status?: number }; status?: number })?.response?.status ?? (err as { status?: number })?.status

/** Dropped connections, timeouts and a token endpoint's 5xx/429 are worth another attempt; a refusal is not. */
function classifyAuth(err: unknown): RetryDecision {
  const st = status(err)
  if (unreachable(err)) return { retry: true, reason: networkReason((err as { cause?: unknown }).cause ?? err) }
  if (st !== undefined && (st === 429 || st >= 500)) return { retry: true, reason: `HTTP ${st}` }
  return { retry: false, reason: '' }
}

/**
 * Application Default Credentials, in google-auth-library's order: GOOGLE_APPLICATION_CREDENTIALS,
 * gcloud's application-default file, then the metadata server (GCE_METADATA_HOST if set). The
 * access token is fetched here, so a deploy learns before the push whether it can get one, and it
 * is registered as a secret. Fails with CREDENTIALS_MISSING when there are none or they are
 * refused, and says so when they exist but their token endpoint cannot be reached.
 */
export async function applicationDefault(project: string | undefined, opts: AdcOptions = {}): Promise<Adc> {
  const source = locate(opts.secret)
  const auth = new GoogleAuth({ scopes: [CLOUD_PLATFORM], ...(project ? { projectId: project } : {}) })
  const call = <T>(what: string, fn: () => Promise<T>): Promise<T> => (opts.retry ? opts.retry(what, () => fn(), classifyAuth) : fn())
  const fail = (err: unknown): MlxError => (err instanceof MlxError && !unreachable(err) ? err : unreachable(err) && source.name !== 'the metadata server' ? unreachableError(source, err) : credentialsError(source, err))
  const accessToken = async () => {
    let token: string | null | undefined
    try {
      token = await call(`Google token endpoint ${source.tokenUrl}`, () => auth.getAccessToken())
    } catch (err) {
      throw fail(err)
    }
    if (!token) throw credentialsError(source, new Error('no access token was returned'))
    opts.secret?.(token)
    return token
  }
  try {
    await call('loading Application Default Credentials', () => auth.getClient())
  } catch (err) {
    throw fail(err)
  }
  await accessToken()
  let id = project
  if (!id) {
    id = (await call('Google project lookup', () => auth.getProjectId()).catch(() => null)) ?? undefined
    if (!id) {
      throw new MlxError('USAGE', 'the cloudrun target does not know which Google Cloud project to use.', {
        hint: 'set targets.cloudrun.project in mlx.yaml, or GOOGLE_CLOUD_PROJECT, or `gcloud config set project PROJECT_ID`.',
      })
    }
  }
  return { auth, project: id, accessToken }
}

// google-auth-library's messages name files and URLs; a token endpoint's error text is the
// endpoint's, which the CLI redacts like every other line. Only the first line is kept.
const why = (err: unknown) => String((err as Error)?.message ?? err).split('\n')[0]!.slice(0, 300)

function credentialsError(source: Source, err: unknown): MlxError {
  if (status(err) !== undefined) {
    return new MlxError('CREDENTIALS_MISSING', `the Google token endpoint ${source.tokenUrl} refused the credentials from ${source.name} (HTTP ${status(err)}): ${why(err)}.`, { hint: ADC_HINT, cause: err })
  }
  return new MlxError('CREDENTIALS_MISSING', `no Google Cloud credentials: Application Default Credentials could not be loaded (${why(err)}).`, { hint: ADC_HINT, cause: err })
}

function unreachableError(source: Source, err: unknown): MlxError {
  const reason = err instanceof MlxError ? err.message.replace(/^.*?: (?=no answer within)/, '').replace(/\.$/, '') : networkReason((err as { cause?: unknown }).cause ?? err)
  return new MlxError('DEPLOY_FAILED', `Google Cloud credentials were found (${source.name}), but their token endpoint ${source.tokenUrl} could not be reached: ${reason}.`, {
    hint: 'check the network (a proxy or firewall in the way) and the token endpoint the credentials file names; raise targets.cloudrun.requestTimeoutSeconds for a slow network.',
    cause: err,
  })
}
