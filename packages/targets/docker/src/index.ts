import { definePlugin } from '@mlx/core'
import { dockerTarget } from './target.js'

export { dockerTarget, DEFAULT_BASE, pushArtifact, versionTag, modelTag, type PushedImage } from './target.js'
export { imageContext, packageImage, packageImageIfBaseReadable, requireBuiltImage, packageImageBuildContext, imageBundlePlatform, type ImageError } from './image-for.js'
export { buildImage, resolveBase, bundleLayers, formatBytes, type BuiltImage, type LayerInfo, type ImageSettings } from './image.js'
export { pushImage, type PushRequest, type PushResult } from './push.js'
export { RegistryClient, RegistryError, type PushStats, type RegistryClientOptions } from './registry.js'
export { parseWwwAuthenticate, findCredentials, type Challenge, type BasicCredentials } from './auth.js'
export { OciLayout, REF_NAME } from './layout.js'
export { writeTarGz, tarChunks, withParents, crc32, GZIP_HEADER, GZIP_LEVEL, type TarEntry, type LayerDigests } from './tar.js'
export { parseImageRef, parseBaseSource, parseDestination, formatRef, isLoopback, type ImageRef, type BaseSource, type Destination } from './reference.js'
export { renderDockerfile } from './dockerfile.js'
export * from './oci.js'

export default definePlugin({ name: '@mlx/target-docker', targets: [dockerTarget] })
