import sharp from 'sharp'
import type { Tensor } from '@mlx/core'
import { placeImage, type Align, type Fit, type Placement } from './geometry.js'
import { num, oneOf, perChannel, toNumber, type Params } from './params.js'

export type Colour = 'rgb' | 'bgr' | 'gray'
export type Layout = 'nchw' | 'nhwc'
export type Kernel = 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3'
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif' | 'heif'

export const IMAGE_FORMATS: readonly ImageFormat[] = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif']
const DEFAULT_FORMATS: readonly ImageFormat[] = ['jpeg', 'png', 'webp']
const KERNELS: readonly Kernel[] = ['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3']
/** sharp's own default is about 268 M pixels; a served endpoint takes far less by default. */
export const DEFAULT_MAX_PIXELS = 40_000_000
const MAX_SIDE = 16_384

/** How one image becomes model input: everything the `image` op's parameters say, checked. */
export interface ImageOptions {
  readonly width: number
  readonly height: number
  readonly fit: Fit
  readonly align: Align
  readonly colour: Colour
  readonly layout: Layout
  readonly dtype: 'float32' | 'uint8'
  /** Per output channel, in the tensor's channel order: value = (pixel * scale - mean) / std. */
  readonly mean: readonly number[]
  readonly std: readonly number[]
  readonly scale: number
  /** Padding (contain) and the colour transparent pixels are flattened onto: an sRGB colour, 0-255. */
  readonly background: readonly [number, number, number]
  readonly rotate: boolean
  readonly maxPixels: number
  readonly formats: readonly ImageFormat[]
  readonly kernel: Kernel
}

export const IMAGE_OPTION_KEYS = ['width', 'height', 'fit', 'align', 'colour', 'color', 'layout', 'dtype', 'mean', 'std', 'scale', 'background', 'rotate', 'max_pixels', 'formats', 'kernel'] as const

/** Checks the pixel-related parameters once, at startup; errors name the parameter. */
export function imageOptions(p: Params): ImageOptions {
  const width = num(p, 'width', undefined, { integer: true, min: 1, max: MAX_SIDE })
  const height = num(p, 'height', undefined, { integer: true, min: 1, max: MAX_SIDE })
  const fit = oneOf<Fit>(p, 'fit', ['fill', 'contain', 'cover'], 'fill', { letterbox: 'contain', stretch: 'fill', crop: 'cover' })
  const align = oneOf<Align>(p, 'align', ['center', 'top-left'], 'center', { centre: 'center' })
  if (p.colour !== undefined && p.color !== undefined) throw new Error("give 'colour' or 'color', not both")
  const colour = oneOf<Colour>(p, p.color !== undefined ? 'color' : 'colour', ['rgb', 'bgr', 'gray'], 'rgb', { grey: 'gray', grayscale: 'gray', greyscale: 'gray' })
  const layout = oneOf<Layout>(p, 'layout', ['nchw', 'nhwc'], 'nchw', { chw: 'nchw', hwc: 'nhwc' })
  const dtype = oneOf(p, 'dtype', ['float32', 'uint8'] as const, 'float32')
  const channels = colour === 'gray' ? 1 : 3
  if (dtype === 'uint8' && (p.mean !== undefined || p.std !== undefined || p.scale !== undefined)) {
    throw new Error("'mean', 'std' and 'scale' apply to dtype float32 only; a uint8 tensor carries the raw 0-255 pixels")
  }
  const mean = perChannel(p, 'mean', channels, 0)
  const std = perChannel(p, 'std', channels, 1, { nonZero: true })
  const scale = num(p, 'scale', 1, { above: 0 })
  const background = readBackground(p.background)
  let rotate = true
  if (p.rotate !== undefined) {
    if (p.rotate === 'exif' || p.rotate === true) rotate = true
    else if (p.rotate === 'none' || p.rotate === false) rotate = false
    else throw new Error(`'rotate' must be exif (turn the image upright by its EXIF orientation, the default) or none (got ${JSON.stringify(p.rotate)})`)
  }
  const maxPixels = num(p, 'max_pixels', DEFAULT_MAX_PIXELS, { integer: true, min: 1 })
  let formats = DEFAULT_FORMATS
  if (p.formats !== undefined) {
    const list = Array.isArray(p.formats) ? p.formats : [p.formats]
    formats = list.map((f) => {
      const s = String(f).toLowerCase()
      const name = (s === 'jpg' ? 'jpeg' : s === 'tif' ? 'tiff' : s) as ImageFormat
      if (!IMAGE_FORMATS.includes(name)) throw new Error(`'formats' may list ${IMAGE_FORMATS.join(', ')} (got ${JSON.stringify(f)})`)
      return name
    })
    if (formats.length === 0) throw new Error("'formats' must list at least one format")
  }
  const kernel = oneOf<Kernel>(p, 'kernel', KERNELS, 'lanczos3', { bilinear: 'linear', bicubic: 'cubic' })
  return { width, height, fit, align, colour, layout, dtype, mean, std, scale, background, rotate, maxPixels, formats, kernel }
}

function readBackground(v: unknown): [number, number, number] {
  if (v === undefined) return [0, 0, 0]
  const list = Array.isArray(v) ? v : [v]
  const values = list.map(toNumber)
  if ((values.length !== 1 && values.length !== 3) || values.some((x) => !Number.isFinite(x) || x < 0 || x > 255)) {
    throw new Error(`'background' must be a gray level or an [r, g, b] colour with values 0-255 (got ${JSON.stringify(v)})`)
  }
  return values.length === 1 ? [values[0]!, values[0]!, values[0]!] : (values as [number, number, number])
}

/** Why an image was refused: becomes a 422 problem naming the field. */
export class ImageInvalid extends Error {
  constructor(
    readonly type: 'image_invalid' | 'image_too_large' | 'image_format',
    message: string,
    readonly ctx?: Record<string, unknown>,
  ) {
    super(message)
    this.name = 'ImageInvalid'
  }
}

const FORMAT_NAMES: Record<string, string> = { jpeg: 'JPEG', png: 'PNG', webp: 'WebP', gif: 'GIF', tiff: 'TIFF', avif: 'AVIF', heif: 'HEIF' }
const formatList = (formats: readonly string[]) => formats.map((f) => FORMAT_NAMES[f] ?? f).join(', ')

/** What sharp said, in a sentence a client can act on. */
function explain(err: unknown, formats: readonly string[]): ImageInvalid {
  const text = String((err as Error)?.message ?? err).split('\n')[0]!.trim()
  if (/exceeds pixel limit/i.test(text)) return new ImageInvalid('image_too_large', 'the image has more pixels than this endpoint accepts')
  if (/buffer is empty/i.test(text)) return new ImageInvalid('image_invalid', 'the file is empty; send the bytes of an image')
  if (/unsupported image format/i.test(text)) return new ImageInvalid('image_invalid', `the file is not an image (expected ${formatList(formats)})`)
  return new ImageInvalid('image_invalid', `the image cannot be decoded, it is corrupt or truncated (${text.replace(/^Input (buffer|file) (has|contains) /i, '')})`)
}

/**
 * The format from the file's first bytes. Only these formats ever reach libvips: anything else
 * (SVG, PDF, text...) is refused before a decoder sees it.
 */
export function sniffFormat(buf: Buffer): ImageFormat | undefined {
  const at = (i: number, ...bytes: number[]) => bytes.every((b, j) => buf[i + j] === b)
  const ascii = (i: number, text: string) => buf.length >= i + text.length && buf.toString('latin1', i, i + text.length) === text
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpeg'
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png'
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp'
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return 'gif'
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return 'tiff'
  if (ascii(4, 'ftyp')) {
    const brand = buf.toString('latin1', 8, 12)
    if (brand === 'avif' || brand === 'avis') return 'avif'
    if (['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1'].includes(brand)) return 'heif'
  }
  return undefined
}

export interface Oriented {
  readonly format: string
  /** After EXIF rotation when rotate is on: the size the client sees. */
  readonly width: number
  readonly height: number
}

/**
 * Reads only the header: format (from the magic bytes) and size, with the EXIF orientation
 * applied. Refuses formats the endpoint does not take and images over the pixel limit before any
 * pixel is decoded, so a tiny file that declares a gigapixel image (a decompression bomb) costs nothing.
 */
export async function probeImage(buf: Buffer, o: Pick<ImageOptions, 'maxPixels' | 'formats' | 'rotate'>): Promise<Oriented> {
  if (buf.length === 0) throw new ImageInvalid('image_invalid', 'the file is empty; send the bytes of an image')
  const format = sniffFormat(buf)
  if (!format) throw new ImageInvalid('image_invalid', `the file is not an image (expected ${formatList(o.formats)})`)
  if (!o.formats.includes(format)) {
    throw new ImageInvalid('image_format', `image format ${format} is not accepted here (accepted: ${formatList(o.formats)})`, { format, accepted: o.formats })
  }
  let meta: sharp.Metadata
  try {
    // The limit is checked below, with the numbers in the message; the header read itself is cheap.
    meta = await sharp(buf, { limitInputPixels: false, failOn: 'error' }).metadata()
  } catch (err) {
    throw explain(err, o.formats)
  }
  const w = meta.width ?? 0
  const h = meta.pageHeight ?? meta.height ?? 0
  if (!(w > 0 && h > 0)) throw new ImageInvalid('image_invalid', 'the image has no size; it is corrupt')
  if (w * h > o.maxPixels) {
    throw new ImageInvalid('image_too_large', `the image is ${w}x${h} = ${w * h} pixels, more than the ${o.maxPixels} this endpoint accepts (a decompression bomb, or a photo to scale down first)`, {
      width: w,
      height: h,
      max_pixels: o.maxPixels,
    })
  }
  const swap = o.rotate && (meta.orientation ?? 1) >= 5
  return { format, width: swap ? h : w, height: swap ? w : h }
}

/** One decoded image: 8-bit pixels, `channels` per pixel, row-major, sized `width`×`height`. */
export interface Pixels {
  readonly data: Buffer
  readonly width: number
  readonly height: number
  readonly channels: number
}

/** sharp with the safety settings every decode here uses. */
function open(buf: Buffer, o: Pick<ImageOptions, 'maxPixels' | 'rotate' | 'background'>): sharp.Sharp {
  const img = sharp(buf, { limitInputPixels: o.maxPixels, failOn: 'error' })
  if (o.rotate) img.rotate()
  return img
}

const rgbOf = (bg: readonly number[]) => ({ r: bg[0]!, g: bg[1]!, b: bg[2]!, alpha: 1 })

/**
 * Decodes and places one image on the model's canvas geometry: EXIF rotation, resize with the
 * fit, alpha flattened onto the background, sRGB (or gray), 8 bits. For contain the pixels are
 * the resized image only; the padding is written when the tensor is filled.
 */
export async function decodeImage(buf: Buffer, o: ImageOptions): Promise<{ pixels: Pixels; placement: Placement }> {
  const head = await probeImage(buf, o)
  const placement = placeImage(head.width, head.height, o.width, o.height, o.fit, o.align)
  try {
    const img = open(buf, o).resize(placement.resizedWidth, placement.resizedHeight, { fit: 'fill', kernel: o.kernel })
    if (o.fit === 'cover') img.extract({ left: -placement.padX, top: -placement.padY, width: o.width, height: o.height })
    img.flatten({ background: rgbOf(o.background) }).toColourspace(o.colour === 'gray' ? 'b-w' : 'srgb')
    const { data, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true })
    return { pixels: { data, width: info.width, height: info.height, channels: info.channels }, placement }
  } catch (err) {
    throw explain(err, o.formats)
  }
}

/** Per output channel, the value of each 8-bit level: one table lookup per pixel instead of arithmetic. */
function levelTables(o: ImageOptions): Float32Array[] {
  const channels = o.colour === 'gray' ? 1 : 3
  return Array.from({ length: channels }, (_, c) => {
    const t = new Float32Array(256)
    for (let v = 0; v < 256; v++) t[v] = (v * o.scale - o.mean[c]!) / o.std[c]!
    return t
  })
}

/** The background in the tensor's channel order (gray: Rec. 601 luma). */
function backgroundLevels(o: ImageOptions): number[] {
  const [r, g, b] = o.background
  if (o.colour === 'gray') return [Math.round(0.299 * r + 0.587 * g + 0.114 * b)]
  return o.colour === 'bgr' ? [b, g, r] : [r, g, b]
}

/**
 * Builds the batch tensor from decoded images: [N, C, H, W] (nchw) or [N, H, W, C] (nhwc),
 * float32 normalised or raw uint8. Contain-fitted images are written at their offset on a
 * background-filled canvas.
 */
export function assembleTensor(images: readonly { pixels: Pixels; placement: Placement }[], o: ImageOptions): Tensor {
  const C = o.colour === 'gray' ? 1 : 3
  const W = o.width
  const H = o.height
  const plane = W * H
  const n = images.length
  const data = o.dtype === 'uint8' ? new Uint8Array(n * C * plane) : new Float32Array(n * C * plane)
  const tables = o.dtype === 'float32' ? levelTables(o) : undefined
  const bg = backgroundLevels(o)
  const nchw = o.layout === 'nchw'
  for (let r = 0; r < n; r++) {
    const { pixels, placement } = images[r]!
    const base = r * C * plane
    const src = pixels.data
    const sc = pixels.channels
    // Source channel for each output channel: gray input feeds every channel; bgr reverses.
    const from = Array.from({ length: C }, (_, c) => (sc < 3 ? 0 : o.colour === 'bgr' ? 2 - c : c))
    const ox = o.fit === 'contain' ? placement.padX : 0
    const oy = o.fit === 'contain' ? placement.padY : 0
    if (o.fit === 'contain' && (pixels.width !== W || pixels.height !== H)) {
      for (let c = 0; c < C; c++) {
        const v = tables ? (bg[c]! * o.scale - o.mean[c]!) / o.std[c]! : bg[c]!
        if (nchw) data.fill(v, base + c * plane, base + (c + 1) * plane)
        else for (let i = 0; i < plane; i++) data[base + i * C + c] = v
      }
    }
    const w = Math.min(pixels.width, W - ox)
    const h = Math.min(pixels.height, H - oy)
    for (let c = 0; c < C; c++) {
      const s0 = from[c]!
      const t = tables?.[c]
      for (let y = 0; y < h; y++) {
        let si = y * pixels.width * sc + s0
        const row = (y + oy) * W + ox
        if (nchw) {
          let di = base + c * plane + row
          if (t) for (let x = 0; x < w; x++, si += sc) data[di++] = t[src[si]!]!
          else for (let x = 0; x < w; x++, si += sc) data[di++] = src[si]!
        } else {
          let di = base + row * C + c
          if (t) for (let x = 0; x < w; x++, si += sc, di += C) data[di] = t[src[si]!]!
          else for (let x = 0; x < w; x++, si += sc, di += C) data[di] = src[si]!
        }
      }
    }
  }
  const shape = nchw ? [n, C, H, W] : [n, H, W, C]
  return { dtype: o.dtype, shape, data }
}

/** Decodes several images at once (sharp works on libuv's thread pool) and stacks them. */
export async function imagesToTensor(buffers: readonly Buffer[], o: ImageOptions): Promise<{ tensor: Tensor; placements: Placement[] }> {
  const images = await Promise.all(buffers.map((b) => decodeImage(b, o)))
  return { tensor: assembleTensor(images, o), placements: images.map((i) => i.placement) }
}

export interface CropOptions {
  /** Grow the box by this fraction of its size on every side (0.2 = 20 %). */
  readonly margin?: number
  /** Grow the shorter side so the crop is square (before clipping to the image). */
  readonly square?: boolean
  /** Resize the crop to this size (fill). */
  readonly size?: readonly [number, number]
  readonly rotate?: boolean
  readonly maxPixels?: number
  readonly background?: readonly [number, number, number]
}

/**
 * A region of an image as 8-bit sRGB pixels, in the coordinates of the EXIF-rotated image (the
 * ones the detection ops report). For a second model on each detection (age on each face).
 */
export async function cropImage(buf: Buffer, box: { x: number; y: number; width: number; height: number }, opts: CropOptions = {}): Promise<Pixels> {
  const rotate = opts.rotate ?? true
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS
  const background = opts.background ?? [0, 0, 0]
  const head = await probeImage(buf, { maxPixels, formats: IMAGE_FORMATS, rotate })
  const m = opts.margin ?? 0
  let w = box.width * (1 + 2 * m)
  let h = box.height * (1 + 2 * m)
  if (opts.square) w = h = Math.max(w, h)
  const cx = box.x + box.width / 2
  const cy = box.y + box.height / 2
  const left = Math.max(0, Math.floor(cx - w / 2))
  const top = Math.max(0, Math.floor(cy - h / 2))
  const right = Math.min(head.width, Math.ceil(cx + w / 2))
  const bottom = Math.min(head.height, Math.ceil(cy + h / 2))
  if (right - left < 1 || bottom - top < 1) throw new Error(`crop ${JSON.stringify(box)} is outside the ${head.width}x${head.height} image`)
  try {
    const img = open(buf, { maxPixels, rotate, background }).extract({ left, top, width: right - left, height: bottom - top })
    if (opts.size) img.resize(opts.size[0], opts.size[1], { fit: 'fill' })
    img.flatten({ background: rgbOf(background) }).toColourspace('srgb')
    const { data, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true })
    return { data, width: info.width, height: info.height, channels: info.channels }
  } catch (err) {
    throw explain(err, IMAGE_FORMATS)
  }
}

