/**
 * GitHub Actions workflows for an mlx project (`mlx ci github`): on every push, install, validate
 * and test, then deploy the default branch to a target; on a version tag, build and push the
 * image. Actions are pinned to full commit SHAs (the tag in a comment, for Dependabot); credentials
 * come only from repository secrets/variables, and each job gets the least permissions it needs.
 */

/** Pinned actions: SHA of the release named in the comment. */
export const ACTIONS = {
  checkout: 'actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2',
  setupNode: 'actions/setup-node@49933ea5288caeca8642d1e84afbd3f7d6820020 # v4.4.0',
  googleAuth: 'google-github-actions/auth@ba79af03959ebeac9769e648f473a284504d9193 # v2.1.10',
} as const

export const KNOWN_TARGETS = ['docker', 'railway', 'cloudrun', 'helm', 'ubiops', 'local'] as const

export interface WorkflowOptions {
  /** Manifest name: names the files and the concurrency groups. */
  readonly name: string
  /** Project folder relative to the repository root, POSIX separators ('.' for the root). */
  readonly dir: string
  readonly target: string
  readonly branch?: string
  readonly nodeVersion?: string
  /** Whether the repository root has a package-lock.json (npm ci) or not (npm install). */
  readonly lockfile: boolean
}

interface DeployEnv {
  /** Extra job permissions beyond contents: read. */
  permissions: Record<string, 'write' | 'read'>
  /** Steps before the deploy (credentials set-up). */
  pre: string[]
  env: Record<string, string>
  notes: string[]
}

const secret = (n: string) => `\${{ secrets.${n} }}`
const variable = (n: string) => `\${{ vars.${n} }}`

/** What the deploy step needs per target: env names as the targets read them. */
export function deployEnv(target: string): DeployEnv {
  const ghcr = { GITHUB_TOKEN: secret('GITHUB_TOKEN') }
  switch (target) {
    case 'docker':
      return { permissions: { packages: 'write' }, pre: [], env: ghcr, notes: ['pushes to ghcr.io/<owner> with the job token (packages: write).'] }
    case 'railway':
      return {
        permissions: { packages: 'write' },
        pre: [],
        env: { RAILWAY_TOKEN: secret('RAILWAY_TOKEN'), ...ghcr, GHCR_TOKEN: secret('GHCR_TOKEN') },
        notes: [
          'RAILWAY_TOKEN: a Railway project token (project settings → Tokens) for the environment to deploy.',
          'GHCR_TOKEN (optional): a PAT with read:packages, needed only with targets.railway.privateImage (Railway must pull after this job ends).',
        ],
      }
    case 'cloudrun':
      return {
        permissions: { 'id-token': 'write' },
        pre: [
          `      - name: Authenticate to Google Cloud (workload identity federation, no key file)
        uses: ${ACTIONS.googleAuth}
        with:
          workload_identity_provider: ${secret('GCP_WORKLOAD_IDENTITY_PROVIDER')}
          service_account: ${secret('GCP_SERVICE_ACCOUNT')}`,
        ],
        env: { GOOGLE_CLOUD_PROJECT: variable('GOOGLE_CLOUD_PROJECT'), GOOGLE_CLOUD_REGION: variable('GOOGLE_CLOUD_REGION') },
        notes: ['GCP_WORKLOAD_IDENTITY_PROVIDER, GCP_SERVICE_ACCOUNT secrets; GOOGLE_CLOUD_PROJECT, GOOGLE_CLOUD_REGION repository variables.'],
      }
    case 'helm':
      return {
        permissions: { packages: 'write' },
        pre: [
          `      - name: Write the kubeconfig from the KUBECONFIG secret
        env:
          KUBECONFIG_DATA: ${secret('KUBECONFIG')}
        run: |
          umask 077
          printf '%s' "$KUBECONFIG_DATA" > "$RUNNER_TEMP/kubeconfig"`,
        ],
        env: { KUBECONFIG: '${{ runner.temp }}/kubeconfig', ...ghcr },
        notes: ['KUBECONFIG: the kubeconfig file content of a namespace-scoped deployer.'],
      }
    case 'ubiops':
      return { permissions: {}, pre: [], env: { UBIOPS_API_TOKEN: secret('UBIOPS_API_TOKEN'), UBIOPS_PROJECT: variable('UBIOPS_PROJECT') }, notes: ['UBIOPS_API_TOKEN secret ("Token ..."), UBIOPS_PROJECT repository variable.'] }
    case 'local':
      return { permissions: {}, pre: [], env: {}, notes: ['deploys on the runner itself: a smoke test that the bundle starts and answers /readyz.'] }
    default:
      return { permissions: {}, pre: [], env: {}, notes: [`the ${target} target's credentials: add them to the deploy step's env from repository secrets.`] }
  }
}

const setup = (o: WorkflowOptions) => `      - uses: ${ACTIONS.checkout}
        with:
          persist-credentials: false
      - uses: ${ACTIONS.setupNode}
        with:
          node-version: ${JSON.stringify(o.nodeVersion ?? '20')}
${o.lockfile ? '          cache: npm\n' : ''}      - name: Install
        run: ${o.lockfile ? 'npm ci' : 'npm install --no-audit --no-fund'}`

/** What must pass before anything ships: the manifest (with each endpoint's docs example) and the project's tests. */
const checks = (dir: string) => `      - name: Validate mlx.yaml
        run: npx mlx validate ${dir}
      - name: Tests
        run: npm test --if-present`

const quoteArg = (s: string) => (/^[A-Za-z0-9._/-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`)

const permissionsBlock = (indent: string, extra: Record<string, string>) =>
  [`${indent}permissions:`, `${indent}  contents: read`, ...Object.entries(extra).map(([k, v]) => `${indent}  ${k}: ${v}`)].join('\n')

/** `.github/workflows/mlx-<name>.yml`: test on every branch push, deploy the default branch. */
export function renderDeployWorkflow(o: WorkflowOptions): string {
  const d = deployEnv(o.target)
  const dir = quoteArg(o.dir)
  const branchCond = o.branch ? `github.ref == 'refs/heads/${o.branch}'` : "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
  const env = Object.entries(d.env)
  return `# Written by \`mlx ci github --target ${o.target}\`: on every push, install, validate and test ${o.name};
# then deploy the ${o.branch ? `${o.branch} branch` : 'default branch'} with \`mlx deploy --target ${o.target}\`.
# Credentials (repository secrets/variables, never in this file):
${d.notes.map((n) => `#   - ${n}`).join('\n')}
name: ${o.name} — test and deploy (${o.target})

on:
  push:
    branches: ['**']
  workflow_dispatch:

${permissionsBlock('', {})}

jobs:
  test:
    runs-on: ubuntu-24.04
    timeout-minutes: 30
    steps:
${setup(o)}
${checks(dir)}

  deploy:
    needs: test
    if: github.event_name == 'workflow_dispatch' || ${branchCond}
    runs-on: ubuntu-24.04
    timeout-minutes: 30
    # Protection rules and environment-scoped secrets live on this GitHub environment.
    environment: ${o.target}
    # One deploy at a time per target; a newer push waits instead of cancelling one half-way.
    concurrency:
      group: mlx-deploy-${o.name}-${o.target}
      cancel-in-progress: false
${permissionsBlock('    ', d.permissions)}
    steps:
${setup(o)}
${d.pre.length ? d.pre.join('\n') + '\n' : ''}      - name: Deploy to ${o.target}
${env.length ? `        env:\n${env.map(([k, v]) => `          ${k}: ${v}`).join('\n')}\n` : ''}        run: npx mlx deploy ${dir} --target ${o.target}
`
}

/** `.github/workflows/mlx-<name>-release.yml`: on a version tag, build and push the image. */
export function renderReleaseWorkflow(o: WorkflowOptions): string {
  const dir = quoteArg(o.dir)
  return `# Written by \`mlx ci github\`: on a version tag (v*), validate and test ${o.name}, then build its image
# and push it to ghcr.io/<owner>/${o.name}, tagged with the manifest version, model-<digest> and the git tag.
# The job token pushes (packages: write); no other secret is needed.
name: ${o.name} — release image

on:
  push:
    tags: ['v*']

${permissionsBlock('', {})}

jobs:
  image:
    runs-on: ubuntu-24.04
    timeout-minutes: 30
${permissionsBlock('    ', { packages: 'write' })}
    steps:
${setup(o)}
${checks(dir)}
      - name: Build and push the image
        env:
          GITHUB_TOKEN: ${secret('GITHUB_TOKEN')}
          # Through env, not interpolated into the script: a ref name is user input.
          GIT_TAG: \${{ github.ref_name }}
        run: npx mlx deploy ${dir} --target docker --tag "$GIT_TAG"
`
}

export function workflowFiles(o: WorkflowOptions): Record<string, string> {
  return {
    [`.github/workflows/mlx-${o.name}.yml`]: renderDeployWorkflow(o),
    [`.github/workflows/mlx-${o.name}-release.yml`]: renderReleaseWorkflow(o),
  }
}
