import { definePlugin } from '@mlx/core'
import { imageOp } from './image-op.js'
import { nmsOp } from './nms.js'

export { imageOp, nmsOp }
export {
  imageOptions,
  probeImage,
  sniffFormat,
  decodeImage,
  assembleTensor,
  imagesToTensor,
  cropImage,
  ImageInvalid,
  DEFAULT_MAX_PIXELS,
  IMAGE_FORMATS,
  type ImageOptions,
  type ImageFormat,
  type Pixels,
  type CropOptions,
  type Colour,
  type Layout,
  type Kernel,
} from './image.js'
export { placeImage, canvasToImage, imageToCanvas, boxToImage, readGeometry, writeGeometry, geometryColumnNames, type Geometry, type Placement, type Fit, type Align } from './geometry.js'
export { iou, nonMaxSuppression, compileDetections, detectionOptions, type Detection, type DetectionOptions, type Box, type BoxFormat, type NmsSettings } from './nms.js'

/**
 * Image pre- and post-processing for mlx: not a model runtime. `image` turns an uploaded file into
 * a model's input tensor (sharp: decode, EXIF rotation, resize or letterbox, normalisation);
 * `nms` turns a detector's boxes and scores into detections. Core's softmax/topk/argmax cover
 * classifiers.
 */
export default definePlugin({
  name: '@mlx/runtime-image',
  preprocess: { image: imageOp },
  postprocess: { nms: nmsOp },
})
