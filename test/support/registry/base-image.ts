// The host-node base image lives in scripts/lib so that the image-size bench builds the same one.
export { makeHostNodeImage, BASE_TAG, PATH_ENV } from '../../../scripts/lib/host-node-image.mjs'
