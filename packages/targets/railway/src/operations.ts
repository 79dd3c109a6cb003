/**
 * The Railway GraphQL operations mlx uses, with their exact schema names (from Railway's public
 * API docs and the `railwayapp/cli` query files). Each function is one operation; the operation
 * name is what errors and the test server key on.
 */
import type { RailwayClient } from './api.js'

interface Edges<T> {
  edges: { node: T }[]
}
const nodes = <T>(c: Edges<T> | undefined | null): T[] => (c?.edges ?? []).map((e) => e.node)

export interface Named {
  id: string
  name: string
}
export interface ProjectInfo extends Named {
  environments: Named[]
  services: Named[]
}

export type DeploymentStatus =
  | 'BUILDING'
  | 'CRASHED'
  | 'DEPLOYING'
  | 'FAILED'
  | 'INITIALIZING'
  | 'NEEDS_APPROVAL'
  | 'QUEUED'
  | 'REMOVED'
  | 'REMOVING'
  | 'SKIPPED'
  | 'SLEEPING'
  | 'SUCCESS'
  | 'WAITING'

export interface DeploymentInfo {
  id: string
  status: DeploymentStatus
  createdAt?: string
  canRollback?: boolean
  staticUrl?: string | null
  url?: string | null
  meta?: Record<string, unknown> | null
}

export interface LogLine {
  message: string
  timestamp?: string
  severity?: string
}

const PROJECT_FIELDS = 'id name environments { edges { node { id name } } } services { edges { node { id name } } }'
type RawProject = { id: string; name: string; environments: Edges<Named>; services: Edges<Named> }
const project = (p: RawProject): ProjectInfo => ({ id: p.id, name: p.name, environments: nodes(p.environments), services: nodes(p.services) })

/** What a project token is for: its project and environment (account tokens have none). */
export async function projectToken(c: RailwayClient): Promise<{ project: Named; environment: Named }> {
  const d = await c.request<{ projectToken: { project: Named; environment: Named } }>(
    'ProjectToken',
    'query ProjectToken { projectToken { project { id name } environment { id name } } }',
  )
  return d.projectToken
}

export async function getProject(c: RailwayClient, id: string): Promise<ProjectInfo> {
  const d = await c.request<{ project: RawProject }>('Project', `query Project($id: String!) { project(id: $id) { ${PROJECT_FIELDS} } }`, { id })
  return project(d.project)
}

/** Projects the account/workspace token can see (one page of 100 is plenty to find one by name). */
export async function listProjects(c: RailwayClient, workspaceId?: string): Promise<ProjectInfo[]> {
  const d = await c.request<{ projects: Edges<RawProject> }>(
    'Projects',
    `query Projects($workspaceId: String, $first: Int) { projects(workspaceId: $workspaceId, first: $first) { edges { node { ${PROJECT_FIELDS} } } } }`,
    { ...(workspaceId ? { workspaceId } : {}), first: 100 },
  )
  return nodes(d.projects).map(project)
}

export async function createProject(c: RailwayClient, input: { name: string; description?: string; workspaceId?: string; defaultEnvironmentName: string }): Promise<ProjectInfo> {
  const d = await c.request<{ projectCreate: RawProject }>(
    'ProjectCreate',
    `mutation ProjectCreate($input: ProjectCreateInput!) { projectCreate(input: $input) { ${PROJECT_FIELDS} } }`,
    { input: Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) },
  )
  return project(d.projectCreate)
}

/**
 * An empty service (no source yet): the image, healthcheck and variables are set before the first
 * deploy, so Railway deploys once, fully configured, instead of once on create and again after.
 */
export async function createService(c: RailwayClient, input: { projectId: string; environmentId: string; name: string }): Promise<Named> {
  const d = await c.request<{ serviceCreate: Named }>('ServiceCreate', 'mutation ServiceCreate($input: ServiceCreateInput!) { serviceCreate(input: $input) { id name } }', { input })
  return d.serviceCreate
}

export interface ServiceInstanceInput {
  source: { image: string }
  registryCredentials?: { username: string; password: string }
  healthcheckPath: string
  healthcheckTimeout: number
  restartPolicyType: string
  restartPolicyMaxRetries: number
  numReplicas?: number
  region?: string
  sleepApplication?: boolean
}

export async function updateServiceInstance(c: RailwayClient, serviceId: string, environmentId: string, input: ServiceInstanceInput): Promise<void> {
  await c.request<{ serviceInstanceUpdate: boolean }>(
    'ServiceInstanceUpdate',
    'mutation ServiceInstanceUpdate($serviceId: String!, $environmentId: String!, $input: ServiceInstanceUpdateInput!) { serviceInstanceUpdate(serviceId: $serviceId, environmentId: $environmentId, input: $input) }',
    { serviceId, environmentId, input },
    { idempotent: true },
  )
}

/** Adds or changes these variables only (no `replace`: variables set in the dashboard stay). */
export async function upsertVariables(c: RailwayClient, input: { projectId: string; environmentId: string; serviceId: string; variables: Record<string, string> }): Promise<void> {
  await c.request<{ variableCollectionUpsert: boolean }>(
    'VariableCollectionUpsert',
    'mutation VariableCollectionUpsert($input: VariableCollectionUpsertInput!) { variableCollectionUpsert(input: $input) }',
    // skipDeploys: the deploy below is the one deploy; without it every upsert redeploys.
    { input: { ...input, skipDeploys: true } },
    { idempotent: true },
  )
}

/** Starts a deployment of the service's current source and returns its id. */
export async function deployServiceInstance(c: RailwayClient, serviceId: string, environmentId: string): Promise<string> {
  const d = await c.request<{ serviceInstanceDeployV2: string }>(
    'ServiceInstanceDeployV2',
    'mutation ServiceInstanceDeployV2($serviceId: String!, $environmentId: String!) { serviceInstanceDeployV2(serviceId: $serviceId, environmentId: $environmentId) }',
    { serviceId, environmentId },
  )
  return d.serviceInstanceDeployV2
}

export async function getDeployment(c: RailwayClient, id: string): Promise<DeploymentInfo> {
  const d = await c.request<{ deployment: DeploymentInfo }>('Deployment', 'query Deployment($id: String!) { deployment(id: $id) { id status createdAt canRollback staticUrl url } }', { id })
  return d.deployment
}

/** Newest first, as Railway lists them. */
export async function listDeployments(c: RailwayClient, input: { projectId: string; environmentId: string; serviceId: string }, first = 10): Promise<DeploymentInfo[]> {
  const d = await c.request<{ deployments: Edges<DeploymentInfo> }>(
    'Deployments',
    'query Deployments($input: DeploymentListInput!, $first: Int) { deployments(input: $input, first: $first) { edges { node { id status createdAt canRollback staticUrl meta } } } }',
    { input, first },
  )
  return nodes(d.deployments)
}

export async function deploymentLogs(c: RailwayClient, deploymentId: string, limit: number): Promise<LogLine[]> {
  const d = await c.request<{ deploymentLogs: LogLine[] }>(
    'DeploymentLogs',
    'query DeploymentLogs($deploymentId: String!, $limit: Int) { deploymentLogs(deploymentId: $deploymentId, limit: $limit) { message timestamp severity } }',
    { deploymentId, limit },
  )
  return d.deploymentLogs ?? []
}

export interface DomainInfo {
  id: string
  domain: string
  targetPort?: number | null
}

export async function listDomains(c: RailwayClient, input: { projectId: string; environmentId: string; serviceId: string }): Promise<{ serviceDomains: DomainInfo[]; customDomains: DomainInfo[] }> {
  const d = await c.request<{ domains: { serviceDomains: DomainInfo[]; customDomains: DomainInfo[] } }>(
    'Domains',
    'query Domains($projectId: String!, $environmentId: String!, $serviceId: String!) { domains(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId) { serviceDomains { id domain targetPort } customDomains { id domain targetPort } } }',
    input,
  )
  return { serviceDomains: d.domains.serviceDomains ?? [], customDomains: d.domains.customDomains ?? [] }
}

export async function createServiceDomain(c: RailwayClient, input: { environmentId: string; serviceId: string; targetPort: number }): Promise<DomainInfo> {
  const d = await c.request<{ serviceDomainCreate: DomainInfo }>(
    'ServiceDomainCreate',
    'mutation ServiceDomainCreate($input: ServiceDomainCreateInput!) { serviceDomainCreate(input: $input) { id domain targetPort } }',
    { input },
  )
  return d.serviceDomainCreate
}

export async function rollbackDeployment(c: RailwayClient, id: string): Promise<void> {
  await c.request<{ deploymentRollback: boolean }>('DeploymentRollback', 'mutation DeploymentRollback($id: String!) { deploymentRollback(id: $id) }', { id })
}
