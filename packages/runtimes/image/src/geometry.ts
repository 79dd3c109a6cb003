import type { Frame } from '@mlx/core'

export type Fit = 'fill' | 'contain' | 'cover'
export type Align = 'center' | 'top-left'

/**
 * Where an image landed on the model's canvas: enough to map a point the model reports (in
 * canvas pixels) back to the original image, `x = (xCanvas - padX) / scaleX`.
 */
export interface Geometry {
  /** The original image, after EXIF rotation: what the client sees in an image viewer. */
  readonly width: number
  readonly height: number
  /** The model's input size. */
  readonly canvasWidth: number
  readonly canvasHeight: number
  /** Resized size over original size, per axis (equal for contain and cover). */
  readonly scaleX: number
  readonly scaleY: number
  /** Canvas position of the resized image's top-left corner: > 0 is padding (contain), < 0 is cropped off (cover). */
  readonly padX: number
  readonly padY: number
}

export interface Placement extends Geometry {
  /** The size the image is resized to before it is padded (contain) or cropped (cover). */
  readonly resizedWidth: number
  readonly resizedHeight: number
}

/**
 * How an image of `width`×`height` is put on a `canvasWidth`×`canvasHeight` canvas:
 * fill stretches it, contain scales it to fit and pads the rest (letterbox), cover scales it to
 * cover the canvas and crops what overflows. Centred unless align is top-left.
 */
export function placeImage(width: number, height: number, canvasWidth: number, canvasHeight: number, fit: Fit, align: Align = 'center'): Placement {
  if (!(width > 0 && height > 0)) throw new Error(`image size must be positive, got ${width}x${height}`)
  let rw = canvasWidth
  let rh = canvasHeight
  if (fit !== 'fill') {
    const s = fit === 'contain' ? Math.min(canvasWidth / width, canvasHeight / height) : Math.max(canvasWidth / width, canvasHeight / height)
    rw = Math.max(1, Math.round(width * s))
    rh = Math.max(1, Math.round(height * s))
    // Rounding must not leave a one-pixel gap (cover) or overflow (contain) on the tight axis.
    if (fit === 'contain') {
      rw = Math.min(rw, canvasWidth)
      rh = Math.min(rh, canvasHeight)
    } else {
      rw = Math.max(rw, canvasWidth)
      rh = Math.max(rh, canvasHeight)
    }
  }
  const centred = align === 'center'
  // `+ 0` turns -0 into 0, so the geometry columns and JSON never show a negative zero.
  const padX = (centred ? (fit === 'cover' ? -Math.floor((rw - canvasWidth) / 2) : Math.floor((canvasWidth - rw) / 2)) : 0) + 0
  const padY = (centred ? (fit === 'cover' ? -Math.floor((rh - canvasHeight) / 2) : Math.floor((canvasHeight - rh) / 2)) : 0) + 0
  return { width, height, canvasWidth, canvasHeight, resizedWidth: rw, resizedHeight: rh, scaleX: rw / width, scaleY: rh / height, padX, padY }
}

/** A canvas point (pixels) in original-image pixels. */
export function canvasToImage(g: Geometry, x: number, y: number): [number, number] {
  return [(x - g.padX) / g.scaleX, (y - g.padY) / g.scaleY]
}

/** An original-image point in canvas pixels. */
export function imageToCanvas(g: Geometry, x: number, y: number): [number, number] {
  return [x * g.scaleX + g.padX, y * g.scaleY + g.padY]
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v))

/** An x1,y1,x2,y2 box in canvas pixels to original-image pixels, clipped to the image. */
export function boxToImage(g: Geometry, x1: number, y1: number, x2: number, y2: number): [number, number, number, number] {
  const [a, b] = canvasToImage(g, x1, y1)
  const [c, d] = canvasToImage(g, x2, y2)
  return [clamp(a, 0, g.width), clamp(b, 0, g.height), clamp(c, 0, g.width), clamp(d, 0, g.height)]
}

/** Frame columns (one Float64Array each, one value per row) that carry the geometry of each row's image. */
export const GEOMETRY_COLUMNS = {
  width: 'width',
  height: 'height',
  canvasWidth: 'canvas_width',
  canvasHeight: 'canvas_height',
  scaleX: 'scale_x',
  scaleY: 'scale_y',
  padX: 'pad_x',
  padY: 'pad_y',
} as const satisfies Record<keyof Geometry, string>

type Key = keyof typeof GEOMETRY_COLUMNS
const KEYS = Object.keys(GEOMETRY_COLUMNS) as Key[]

/** The column names an image op with this `meta` prefix writes, e.g. image_width, image_pad_x. */
export function geometryColumnNames(prefix: string): string[] {
  return KEYS.map((k) => `${prefix}_${GEOMETRY_COLUMNS[k]}`)
}

export function writeGeometry(frame: Frame, prefix: string, rows: readonly Geometry[]): void {
  for (const k of KEYS) frame.columns.set(`${prefix}_${GEOMETRY_COLUMNS[k]}`, Float64Array.from(rows, (g) => g[k]))
}

/**
 * The geometry the `image` op recorded for each row (its `meta` prefix, by default the field
 * name): what a handler or a post op needs to put model boxes back on the client's image.
 */
export function readGeometry(frame: Frame, prefix: string): Geometry[] {
  const cols = KEYS.map((k) => {
    const name = `${prefix}_${GEOMETRY_COLUMNS[k]}`
    const col = frame.columns.get(name)
    if (!(col instanceof Float64Array)) {
      throw new Error(`the frame has no image geometry under '${prefix}' (no column '${name}'); the image op writes it with meta: ${prefix} (by default meta is the op's field)`)
    }
    return col
  })
  const out: Geometry[] = []
  for (let i = 0; i < frame.rows; i++) {
    const g = {} as Record<Key, number>
    KEYS.forEach((k, j) => (g[k] = cols[j]![i]!))
    out.push(g)
  }
  return out
}
