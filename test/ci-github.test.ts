// `mlx ci github`: the generated workflows parse as YAML, run validate + tests before any deploy,
// pin every action to a commit SHA, read credentials from secrets only, give each target's deploy
// step the environment that target reads, and never overwrite a workflow without --force.
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { ACTIONS, deployEnv, renderDeployWorkflow, workflowFiles } from '../packages/cli/src/ci-workflows.js'
import { copyExample, mlx } from './support/cli.js'

interface Step {
  name?: string
  uses?: string
  run?: string
  env?: Record<string, string>
  with?: Record<string, unknown>
}
interface Job {
  needs?: string
  if?: string
  permissions: Record<string, string>
  steps: Step[]
  environment?: string
  concurrency?: { group: string; 'cancel-in-progress': boolean }
}
interface Workflow {
  name: string
  on: { push: { branches?: string[]; tags?: string[] }; workflow_dispatch?: null }
  permissions: Record<string, string>
  jobs: Record<string, Job>
}

const PINNED = /^[\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/
const FROM_SECRETS = /^\$\{\{ (secrets|vars)\.[A-Z][A-Z0-9_]* \}\}$|^\$\{\{ runner\.temp \}\}\/kubeconfig$/

describe('mlx ci github', () => {
  let repo: string
  let classifier: string
  beforeAll(async () => {
    repo = await mkdtemp(path.join(os.tmpdir(), 'mlx-ci-'))
    await mkdir(path.join(repo, '.git'))
    await writeFile(path.join(repo, 'package-lock.json'), '{}\n')
    const copy = await copyExample('classifier', (y) => y.replace(/^targets:\n[\s\S]*$/m, 'targets:\n  local:\n    port: 8081\n  railway:\n    environment: production\n'))
    classifier = path.join(repo, 'models', 'classifier')
    await mkdir(path.dirname(classifier), { recursive: true })
    await import('node:fs/promises').then((fs) => fs.rename(copy, classifier))
  })
  afterAll(async () => {
    if (repo) await rm(repo, { recursive: true, force: true })
  })

  it('writes a push workflow (install, validate, tests, then deploy the default branch) and a tag workflow (image to GHCR) at the repository root', async () => {
    const r = await mlx(['ci', 'github', classifier, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as { target: string; root: string; project: string; files: string[] }
    expect(out).toMatchObject({ target: 'railway', project: 'models/classifier' }) // the first non-local target in mlx.yaml
    expect(out.files.map((f) => path.relative(repo, f)).sort()).toEqual(['.github/workflows/mlx-classifier-release.yml', '.github/workflows/mlx-classifier.yml'])

    const text = await readFile(path.join(repo, '.github/workflows/mlx-classifier.yml'), 'utf8')
    const wf = parse(text) as Workflow
    expect(wf.on.push.branches).toEqual(['**'])
    expect(wf.permissions).toEqual({ contents: 'read' })
    const test = wf.jobs.test!
    expect(test.steps.map((s) => s.run).filter(Boolean)).toEqual(['npm ci', 'npx mlx validate models/classifier', 'npm test --if-present'])
    const deploy = wf.jobs.deploy!
    expect(deploy.needs).toBe('test')
    expect(deploy.if).toContain('github.event.repository.default_branch')
    expect(deploy.permissions).toEqual({ contents: 'read', packages: 'write' })
    expect(deploy.concurrency).toEqual({ group: 'mlx-deploy-classifier-railway', 'cancel-in-progress': false })
    const step = deploy.steps.at(-1)!
    expect(step.run).toBe('npx mlx deploy models/classifier --target railway')
    expect(step.env).toEqual({ RAILWAY_TOKEN: '${{ secrets.RAILWAY_TOKEN }}', GITHUB_TOKEN: '${{ secrets.GITHUB_TOKEN }}', GHCR_TOKEN: '${{ secrets.GHCR_TOKEN }}' })
    for (const s of [...test.steps, ...deploy.steps].filter((x) => x.uses)) expect(s.uses).toMatch(/@[0-9a-f]{40}$/)
    // The tag comment (for Dependabot and humans) sits next to every pinned SHA.
    for (const line of text.split('\n').filter((l) => l.includes('uses:'))) expect(line.trim().replace(/^- /, '').replace(/^uses: /, '')).toMatch(PINNED)
    expect(deploy.steps[0]!.with).toEqual({ 'persist-credentials': false })

    const rel = parse(await readFile(path.join(repo, '.github/workflows/mlx-classifier-release.yml'), 'utf8')) as Workflow
    expect(rel.on.push).toEqual({ tags: ['v*'] })
    const image = rel.jobs.image!
    expect(image.permissions).toEqual({ contents: 'read', packages: 'write' })
    expect(image.steps.map((s) => s.run).filter(Boolean)).toEqual(['npm ci', 'npx mlx validate models/classifier', 'npm test --if-present', 'npx mlx deploy models/classifier --target docker --tag "$GIT_TAG"'])
    expect(image.steps.at(-1)!.env).toEqual({ GITHUB_TOKEN: '${{ secrets.GITHUB_TOKEN }}', GIT_TAG: '${{ github.ref_name }}' })
  })

  it('refuses to overwrite existing workflows without --force', async () => {
    const file = path.join(repo, '.github/workflows/mlx-classifier.yml')
    await writeFile(file, '# edited by hand\n')
    const r = await mlx(['ci', 'github', classifier, '--target', 'docker'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/error\[USAGE\]: .*mlx-classifier\.yml and .*mlx-classifier-release\.yml already exist/)
    expect(r.stderr).toContain('--force')
    expect(await readFile(file, 'utf8')).toBe('# edited by hand\n')
    const f = await mlx(['ci', 'github', classifier, '--target', 'docker', '--force', '--branch', 'release'])
    expect(f.code, f.stderr).toBe(0)
    const wf = parse(await readFile(file, 'utf8')) as Workflow
    expect(wf.jobs.deploy!.if).toBe("github.event_name == 'workflow_dispatch' || github.ref == 'refs/heads/release'")
    expect(wf.jobs.deploy!.steps.at(-1)!.run).toBe('npx mlx deploy models/classifier --target docker')
  })

  it('gives each target the deploy environment, permissions and set-up it reads, all from secrets or variables', () => {
    const expected: Record<string, { env: string[]; permissions: Record<string, string>; pre?: RegExp }> = {
      docker: { env: ['GITHUB_TOKEN'], permissions: { contents: 'read', packages: 'write' } },
      railway: { env: ['RAILWAY_TOKEN', 'GITHUB_TOKEN', 'GHCR_TOKEN'], permissions: { contents: 'read', packages: 'write' } },
      cloudrun: { env: ['GOOGLE_CLOUD_PROJECT', 'GOOGLE_CLOUD_REGION'], permissions: { contents: 'read', 'id-token': 'write' }, pre: /^google-github-actions\/auth@/ },
      helm: { env: ['KUBECONFIG', 'GITHUB_TOKEN'], permissions: { contents: 'read', packages: 'write' }, pre: /> "\$RUNNER_TEMP\/kubeconfig"/ },
      ubiops: { env: ['UBIOPS_API_TOKEN', 'UBIOPS_PROJECT'], permissions: { contents: 'read' } },
      local: { env: [], permissions: { contents: 'read' } },
    }
    for (const [target, want] of Object.entries(expected)) {
      const wf = parse(renderDeployWorkflow({ name: 'm', dir: '.', target, lockfile: false })) as Workflow
      const deploy = wf.jobs.deploy!
      const step = deploy.steps.at(-1)!
      expect(step.run, target).toBe(`npx mlx deploy . --target ${target}`)
      expect(Object.keys(step.env ?? {}), target).toEqual(want.env)
      for (const v of Object.values(step.env ?? {})) expect(v, target).toMatch(FROM_SECRETS)
      expect(deploy.permissions, target).toEqual(want.permissions)
      expect(deploy.environment).toBe(target)
      expect(deploy.steps.find((s) => s.run === 'npm install --no-audit --no-fund'), target).toBeDefined() // no lockfile: npm install
      if (want.pre) {
        const pre = deploy.steps.at(-2)!
        expect(pre.uses ?? pre.run ?? '', target).toMatch(want.pre)
        for (const v of Object.values({ ...pre.with, ...pre.env })) expect(String(v), target).toMatch(FROM_SECRETS)
      }
    }
    expect(deployEnv('railway').notes.join(' ')).toContain('project token')
    expect(ACTIONS.googleAuth).toMatch(PINNED)
  })

  it('names files after the project and quotes a folder with spaces', () => {
    const files = workflowFiles({ name: 'names', dir: 'my models/names', target: 'local', lockfile: true })
    const wf = parse(files['.github/workflows/mlx-names.yml']!) as Workflow
    expect(wf.jobs.test!.steps.find((s) => s.run?.startsWith('npx mlx validate'))!.run).toBe("npx mlx validate 'my models/names'")
    expect(Object.keys(files)).toEqual(['.github/workflows/mlx-names.yml', '.github/workflows/mlx-names-release.yml'])
    expect(existsSync('.github/workflows/mlx-names.yml')).toBe(false)
  })
})
