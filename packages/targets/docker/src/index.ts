import { definePlugin } from '@mlx/core'
import { dockerImages } from './image-tool.js'
import { dockerTarget } from './target.js'

export { dockerTarget, type DockerDetails } from './target.js'
export { dockerImages, versionTag, modelTag, sourceUrl, type ImageDetails } from './image-tool.js'
export { configSchema, dockerConfig, imageSettings, DEFAULT_BASE, type DockerConfig, type ImageSettings } from './config.js'
export { buildImage, resolveBase, bundleLayers, formatBytes, type LayerInfo } from './image.js'
export { pushImage, type PushRequest, type PushResult } from './push.js'
export { RegistryClient, RegistryError, type PushStats, type RegistryClientOptions } from './registry.js'
export { parseWwwAuthenticate, findCredentials, type Challenge, type BasicCredentials } from './auth.js'
export { OciLayout, REF_NAME } from './layout.js'
export { writeTarGz, tarChunks, withParents, crc32, GZIP_HEADER, GZIP_LEVEL, type TarEntry, type LayerDigests } from './tar.js'
export { parseImageRef, parseBaseSource, parseDestination, formatRef, isLoopback, type ImageRef, type BaseSource, type Destination } from './reference.js'
export { renderDockerfile } from './dockerfile.js'
export * from './oci.js'

export default definePlugin({ name: '@mlx/target-docker', targets: [dockerTarget], images: dockerImages })
