/**
 * The Dockerfile for people who build with Docker (or podman/buildah). It gives the same layout as
 * the daemonless image: a first stage splits the bundle into node_modules, model files and app
 * code, and the final stage copies them as three layers, least to most often changed. The @mlx
 * packages are not on a registry, so `npm ci` cannot install them: the bundle's node_modules
 * (already pruned to the target platform) is the dependency layer.
 */

export interface DockerfileOptions {
  /** Base image reference, pinned by digest when known. */
  readonly base: string
  /** Bundle-relative model paths (files or folders). */
  readonly models: readonly string[]
  readonly user: string
  readonly port: number
  readonly env: Readonly<Record<string, string>>
  readonly labels: Readonly<Record<string, string>>
  readonly platform: string
  readonly note?: string
}

const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`
/** A POSIX-shell single-quoted word, for the RUN line. */
const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

export function renderDockerfile(o: DockerfileOptions): string {
  const env = { ...o.env, NODE_ENV: 'production', PORT: String(o.port) }
  const labels = Object.entries(o.labels).sort(([a], [b]) => (a < b ? -1 : 1))
  const lines = [
    '# syntax=docker/dockerfile:1',
    '# Written by `mlx package --target docker`. Build from this folder:',
    `#   docker build --platform ${o.platform} -t IMAGE -f Dockerfile context`,
    '# mlx builds the same image without Docker (OCI layout in oci/); this file is for those who prefer docker build.',
    ...(o.note ? [`# ${o.note}`] : []),
    `ARG BASE=${o.base}`,
    '',
    '# Stage 1: split the bundle into the three layers (dependencies, models, app) and normalize modes.',
    'FROM ${BASE} AS layers',
    'WORKDIR /src',
    'COPY . .',
    'RUN set -eu; \\',
    '    mkdir -p /out/deps /out/models /out/app; \\',
    '    mv node_modules /out/deps/; \\',
    `    for m in ${o.models.map(sh).join(' ') || "''"}; do \\`,
    '      [ -n "$m" ] || continue; mkdir -p "/out/models/$(dirname "$m")"; mv "$m" "/out/models/$m"; \\',
    '    done; \\',
    '    cp -a . /out/app/; \\',
    '    chown -R 0:0 /out; chmod -R u=rwX,go=rX /out',
    '',
    '# Stage 2: the runtime image. Code and models are root-owned and read-only to the app user.',
    'FROM ${BASE}',
    `ENV ${Object.entries(env).map(([k, v]) => `${k}=${q(v)}`).join(' \\\n    ')}`,
    'WORKDIR /app',
    'COPY --from=layers /out/deps/ ./',
    'COPY --from=layers /out/models/ ./',
    'COPY --from=layers /out/app/ ./',
    ...(labels.length ? [`LABEL ${labels.map(([k, v]) => `${q(k)}=${q(v)}`).join(' \\\n      ')}`] : []),
    `USER ${o.user}`,
    `EXPOSE ${o.port}`,
    'STOPSIGNAL SIGTERM',
    `HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||${o.port})+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]`,
    '# Exec form: node is PID 1 and gets SIGTERM directly (the server drains and exits 0).',
    'ENTRYPOINT []',
    'CMD ["node", "server.mjs"]',
    '',
  ]
  return lines.join('\n')
}
