import { GoogleAuth } from 'google-auth-library'
import { MlxError } from '@mlx/core'

export const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform'

const ADC_HINT =
  'run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account (or workload-identity) JSON file; on Google Cloud (Cloud Build, GCE, GKE) the metadata server is used.'

export interface Adc {
  readonly auth: GoogleAuth
  readonly project: string
  /** An OAuth access token for Artifact Registry (user oauth2accesstoken); never logged. */
  accessToken(): Promise<string>
}

/**
 * Application Default Credentials, in google-auth-library's order: GOOGLE_APPLICATION_CREDENTIALS,
 * gcloud's application-default file, then the metadata server (GCE_METADATA_HOST if set).
 * Fails with CREDENTIALS_MISSING naming ADC and the fixes; the token itself never appears.
 */
export async function applicationDefault(project: string | undefined): Promise<Adc> {
  const auth = new GoogleAuth({ scopes: [CLOUD_PLATFORM], ...(project ? { projectId: project } : {}) })
  const accessToken = async () => {
    let token: string | null | undefined
    try {
      token = await auth.getAccessToken()
    } catch (err) {
      throw credentialsError(err)
    }
    if (!token) throw credentialsError(new Error('no access token was returned'))
    return token
  }
  try {
    await auth.getClient()
  } catch (err) {
    throw credentialsError(err)
  }
  let id = project
  if (!id) {
    id = (await auth.getProjectId().catch(() => null)) ?? undefined
    if (!id) {
      throw new MlxError('USAGE', 'the cloudrun target does not know which Google Cloud project to use.', {
        hint: 'set targets.cloudrun.project in mlx.yaml, or GOOGLE_CLOUD_PROJECT, or `gcloud config set project PROJECT_ID`.',
      })
    }
  }
  return { auth, project: id, accessToken }
}

function credentialsError(err: unknown): MlxError {
  // google-auth-library's messages name files and URLs, never key material; keep only the first line.
  const why = String((err as Error)?.message ?? err).split('\n')[0]!.slice(0, 300)
  return new MlxError('CREDENTIALS_MISSING', `no Google Cloud credentials: Application Default Credentials could not be loaded (${why}).`, { hint: ADC_HINT, cause: err })
}
