import { RequestInvalid, type FrameOpDefinition, type Problem } from '@mlx/core'
import { geometryColumnNames, writeGeometry } from './geometry.js'
import { decodeImage, IMAGE_OPTION_KEYS, ImageInvalid, imageOptions, assembleTensor } from './image.js'
import { num, onlyKnown, str } from './params.js'

const USAGE =
  '{op: image, field: <file feature>, to: <model input>, width: 320, height: 240, fit?: fill|contain|cover, align?: center|top-left, ' +
  'background?: [r, g, b], colour?: rgb|bgr|gray, layout?: nchw|nhwc, dtype?: float32|uint8, mean?: [..], std?: [..], scale?: 1/255, ' +
  'rotate?: exif|none, kernel?: linear|cubic|lanczos3|..., formats?: [jpeg, png, webp], max_pixels?: 40000000, max_images?: <n>, meta?: <prefix>|false}'

/**
 * The `image` pre-processing op: the file column `field` (multipart upload or base64 JSON) becomes
 * the tensor `to`, fed to the model input of that name as is, one image per row. The geometry of
 * each image (original size, scale, padding) goes into Float64 columns `<meta>_width`,
 * `<meta>_height`, `<meta>_scale_x`, ... so boxes can be put back on the original image.
 */
export const imageOp: FrameOpDefinition = {
  usage: USAGE,
  compile(p, columns) {
    onlyKnown(p, ['field', 'to', 'meta', 'max_images', ...IMAGE_OPTION_KEYS])
    const field = str(p, 'field')
    if (!columns.has(field)) throw new Error(`'field': no column '${field}' at this point (columns: ${[...columns.keys()].join(', ')})`)
    if (columns.get(field)) throw new Error(`'field': column '${field}' is numeric; the image op reads a file feature (input.features.${field}.type: file)`)
    const to = str(p, 'to')
    if (to === field) throw new Error(`'to' must differ from 'field': the file column '${field}' stays available (handlers crop from it)`)
    const o = imageOptions(p)
    let meta: string | undefined = field
    if (p.meta === false) meta = undefined
    else if (p.meta !== undefined) meta = str(p, 'meta')
    const maxImages = p.max_images === undefined ? Infinity : num(p, 'max_images', undefined, { integer: true, min: 1 })
    const added = [to, ...(meta ? geometryColumnNames(meta) : [])]
    const clash = added.find((c) => columns.has(c))
    if (clash) throw new Error(`column '${clash}' already exists; pick another ${clash === to ? "'to'" : "'meta' prefix"}`)
    // The tensor is not a per-row number column; the geometry columns are.
    columns.set(to, false)
    for (const c of added.slice(1)) columns.set(c, true)

    return async (frame, where) => {
      const col = frame.columns.get(field)
      if (!Array.isArray(col)) throw new Error(`image op: column '${field}' holds no files`)
      const loc = (i: number) => (frame.rows > 1 ? [where, field, i] : [where, field])
      if (frame.rows > maxImages) {
        throw new RequestInvalid([{ type: 'too_long', loc: [where, field], msg: `at most ${maxImages} image${maxImages > 1 ? 's' : ''} per request, got ${frame.rows}`, input: null, ctx: { max_length: maxImages } }])
      }
      const settled = await Promise.allSettled(
        col.map((v, i) => {
          if (Buffer.isBuffer(v)) return decodeImage(v, o)
          if (v === null) return Promise.reject(new ImageInvalid('image_invalid', 'no file was sent'))
          // A string here means the feature is not declared as a file: a manifest mistake, not the client's.
          return Promise.reject(new Error(`image op: '${field}' row ${i} is text, not a file; declare input.features.${field}.type: file in mlx.yaml`))
        }),
      )
      const problems: Problem[] = []
      settled.forEach((s, i) => {
        if (s.status === 'fulfilled') return
        const err = s.reason as unknown
        if (!(err instanceof ImageInvalid)) throw err
        problems.push({ type: err.type, loc: loc(i), msg: `'${field}' is not a usable image: ${err.message}`, input: null, ...(err.ctx ? { ctx: err.ctx } : {}) })
      })
      if (problems.length) throw new RequestInvalid(problems)
      const images = settled.map((s) => (s as PromiseFulfilledResult<Awaited<ReturnType<typeof decodeImage>>>).value)
      frame.columns.set(to, assembleTensor(images, o))
      if (meta) writeGeometry(frame, meta, images.map((i) => i.placement))
    }
  },
}
