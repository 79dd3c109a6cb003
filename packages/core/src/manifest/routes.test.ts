// checkRoutes: what fastify would refuse when the server starts (or silently mis-route) is found
// while the manifest loads: built-in routes, two endpoints fastify takes for one, paths no request
// can reach. The verdicts are checked against fastify itself.
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { checkRoutes, type EndpointRoute } from './routes.js'
import { BUILTIN_ROUTES, RESERVED_PATHS, RESERVED_PREFIXES, reservedRoute } from './reserved-routes.js'

type Method = EndpointRoute['method']
const ep = (name: string, path: string, method: Method = 'POST'): EndpointRoute => ({ name, method, path })

describe('checkRoutes: built-in routes', () => {
  it('refuses every reserved path, for any method, with or without a trailing slash', async () => {
    for (const p of Object.keys(RESERVED_PATHS)) {
      for (const method of ['GET', 'POST', 'PUT'] as const) {
        for (const path of [p, `${p}/`]) {
          const problem = await checkRoutes([ep('x', path, method)])
          expect(problem, `${method} ${path}`).toMatchObject({ endpoint: 'x', message: expect.stringContaining(`${method} ${path} is a built-in route: the server serves `) })
          expect(problem!.message).toContain(` at ${p}`)
        }
      }
    }
  })

  it('refuses everything under /docs/ and /v2/', async () => {
    for (const path of ['/docs/init.js', '/docs/assets/x.css', '/docs/mine', '/v2/models/titanic/infer', '/v2/health/live', '/v2/anything/else', '/v2/models/:id']) {
      const problem = await checkRoutes([ep('x', path, 'GET')])
      expect(problem?.message, path).toMatch(/is a built-in route: the server serves .* under \/(docs|v2)\/$/)
    }
    expect(Object.keys(RESERVED_PREFIXES)).toEqual(['/docs/', '/v2/'])
  })

  it('leaves paths that only look alike alone', async () => {
    for (const path of ['/metrics2', '/docsearch', '/v2x', '/api/metrics', '/Metrics', '/predict/healthz', '/v1/predict', '/']) {
      expect(await checkRoutes([ep('x', path, 'GET')]), path).toBeUndefined()
    }
  })

  it('refuses an endpoint whose parametric path also takes GET / (the index), unless one declares GET / itself', async () => {
    expect(await checkRoutes([ep('any', '/:page?', 'GET')])).toMatchObject({ endpoint: 'any', message: expect.stringContaining('GET /:page? also takes GET /, where the server serves the index') })
    expect(await checkRoutes([ep('root', '/', 'GET')])).toBeUndefined()
    // A parametric route next to the static built-ins is fine: fastify prefers static routes.
    expect(await checkRoutes([ep('page', '/:page', 'GET')])).toBeUndefined()
  })

  it('names a route list that agrees with reservedRoute for every built-in', () => {
    for (const r of Object.values(BUILTIN_ROUTES)) expect(reservedRoute(r.url), r.url).toBeDefined()
  })
})

describe('checkRoutes: endpoints that fastify takes for one route', () => {
  it('refuses the same method and path, naming the other endpoint', async () => {
    expect(await checkRoutes([ep('a', '/p'), ep('b', '/p')])).toMatchObject({ endpoint: 'b', message: expect.stringMatching(/^POST \/p is already served by endpoint 'a' \(POST \/p\)/) })
  })

  it('refuses paths a trailing slash apart', async () => {
    expect(await checkRoutes([ep('a', '/p'), ep('b', '/p/')])).toMatchObject({ endpoint: 'b', message: expect.stringContaining("already served by endpoint 'a' (POST /p)") })
    expect(await checkRoutes([ep('a', '/p/'), ep('b', '/p')])).toMatchObject({ endpoint: 'b', message: expect.stringContaining("already served by endpoint 'a' (POST /p/)") })
    expect(await checkRoutes([ep('a', '/u/:id'), ep('b', '/u/:key/')])).toMatchObject({ endpoint: 'b', message: expect.stringContaining("endpoint 'a' (POST /u/:id)") })
  })

  it('refuses paths that differ only in parameter names, as fastify does', async () => {
    expect(await checkRoutes([ep('a', '/u/:id'), ep('b', '/u/:name')])).toMatchObject({ endpoint: 'b', message: expect.stringContaining("endpoint 'a' (POST /u/:id)") })
    expect(await checkRoutes([ep('a', '/f/:a-:b'), ep('b', '/f/:x-:y')])).toMatchObject({ endpoint: 'b' })
    expect(await checkRoutes([ep('a', '/n/:a(\\d+)'), ep('b', '/n/:b(\\d+)')])).toMatchObject({ endpoint: 'b' })
    // An optional last parameter registers two routes; either may be taken already.
    expect(await checkRoutes([ep('a', '/o'), ep('b', '/o/:x?')])).toMatchObject({ endpoint: 'b', message: expect.stringContaining("endpoint 'a' (POST /o)") })
  })

  it('allows the same path with another method, and static routes beside parametric ones', async () => {
    expect(await checkRoutes([ep('a', '/p', 'POST'), ep('b', '/p', 'PUT'), ep('c', '/p', 'GET')])).toBeUndefined()
    expect(await checkRoutes([ep('a', '/u/:id'), ep('b', '/u/me'), ep('c', '/u/:id/items')])).toBeUndefined()
  })

  it('agrees with fastify on which pairs collide (and is stricter only about trailing slashes)', async () => {
    const pairs: [string, string][] = [
      ['/p', '/p'],
      ['/p', '/q'],
      ['/p', '/P'],
      ['/a/:x', '/a/:y'],
      ['/a/:x', '/a/b'],
      ['/a/:x/c', '/a/:y/d'],
      ['/a/:x(\\d+)', '/a/:y(\\d+)'],
      ['/a/:x(\\d+)', '/a/:y'],
      ['/a/*', '/a/*'],
      ['/a/*', '/a/:x'],
      ['/a/:x-:y', '/a/:p-:q'],
      ['/a/:x.:y', '/a/:p.:q'],
      ['/a/:x?', '/a'],
      ['/a/::x', '/a/:x'],
    ]
    for (const [a, b] of pairs) {
      const app = Fastify()
      let fastifyRefuses = false
      try {
        app.post(a, async () => null)
        app.post(b, async () => null)
      } catch {
        fastifyRefuses = true
      }
      const problem = await checkRoutes([ep('a', a), ep('b', b)])
      expect(problem !== undefined, `${a} | ${b}: ${problem?.message}`).toBe(fastifyRefuses)
    }
  })
})

describe('checkRoutes: paths no request reaches, and what fastify refuses', () => {
  it('refuses a query string, a fragment, spaces and empty segments', async () => {
    expect((await checkRoutes([ep('x', '/p?v=1')]))?.message).toMatch(/'\/p\?v=1' contains '\?', which starts the query string/)
    expect((await checkRoutes([ep('x', '/p#top')]))?.message).toMatch(/a control character or #/)
    expect((await checkRoutes([ep('x', '/my path')]))?.message).toMatch(/contains a space/)
    expect((await checkRoutes([ep('x', '/a//b')]))?.message).toMatch(/has an empty segment/)
  })

  it("passes fastify's own refusals on: a wildcard before the end, a bad or unsafe regex", async () => {
    expect((await checkRoutes([ep('x', '/a*b')]))?.message).toBe("fastify refuses the route '/a*b': Wildcard must be the last character in the route")
    expect((await checkRoutes([ep('x', '/a/:x([)')]))?.message).toMatch(/^fastify refuses the route '\/a\/:x\(\[\)': /)
    expect((await checkRoutes([ep('x', '/a/:x((a+)+)')]))?.message).toMatch(/is not safe/)
  })

  it('checks a dozen endpoints in well under a second', async () => {
    const many = Array.from({ length: 12 }, (_, i) => ep(`e${i}`, `/v1/e${i}/:id`))
    const started = Date.now()
    expect(await checkRoutes(many)).toBeUndefined()
    expect(Date.now() - started).toBeLessThan(1_000)
  })
})
