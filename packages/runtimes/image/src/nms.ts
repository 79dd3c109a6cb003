import type { Frame, StepDefinition, Tensor } from '@mlx/core'
import { boxToImage, readGeometry, type Geometry } from './geometry.js'
import { bool, num, oneOf, onlyKnown, str, type Params } from './params.js'

export type BoxFormat = 'xyxy' | 'xywh' | 'cxcywh'

export interface Box {
  readonly x: number
  readonly y: number
  readonly width: number
  readonly height: number
}

export interface Detection {
  readonly box: Box
  readonly score: number
  /** Only when the op picks among several classes. */
  readonly class?: number
  readonly label?: string
}

/** Intersection over union of boxes i and j in a flat x1,y1,x2,y2 array. */
export function iou(b: ArrayLike<number>, i: number, j: number): number {
  const ax1 = b[4 * i]!, ay1 = b[4 * i + 1]!, ax2 = b[4 * i + 2]!, ay2 = b[4 * i + 3]!
  const bx1 = b[4 * j]!, by1 = b[4 * j + 1]!, bx2 = b[4 * j + 2]!, by2 = b[4 * j + 3]!
  const iw = Math.min(ax2, bx2) - Math.max(ax1, bx1)
  const ih = Math.min(ay2, by2) - Math.max(ay1, by1)
  if (iw <= 0 || ih <= 0) return 0
  const inter = iw * ih
  const union = Math.max(0, ax2 - ax1) * Math.max(0, ay2 - ay1) + Math.max(0, bx2 - bx1) * Math.max(0, by2 - by1) - inter
  return union > 0 ? inter / union : 0
}

export interface NmsSettings {
  readonly iouThreshold: number
  readonly maxDetections: number
  /** Boxes below it are never candidates. */
  readonly scoreThreshold?: number
  /** Per box, its class: boxes of different classes do not suppress each other. */
  readonly classes?: ArrayLike<number>
  /** Only the best this many candidates enter the (quadratic) suppression loop. */
  readonly candidates?: number
}

/**
 * Greedy non-max suppression: take the best-scoring box, drop every box that overlaps it by more
 * than `iouThreshold`, repeat. `boxes` holds x1,y1,x2,y2 per box. Returns the kept indices, best first.
 */
export function nonMaxSuppression(boxes: ArrayLike<number>, scores: ArrayLike<number>, s: NmsSettings): number[] {
  const thr = s.scoreThreshold ?? -Infinity
  const order: number[] = []
  for (let i = 0; i < scores.length; i++) if (scores[i]! >= thr && !Number.isNaN(scores[i]!)) order.push(i)
  order.sort((a, b) => scores[b]! - scores[a]! || a - b)
  if (s.candidates !== undefined && order.length > s.candidates) order.length = s.candidates
  const kept: number[] = []
  for (const i of order) {
    if (kept.length >= s.maxDetections) break
    let ok = true
    for (const k of kept) {
      if (s.classes && s.classes[k] !== s.classes[i]) continue
      if (iou(boxes, i, k) > s.iouThreshold) {
        ok = false
        break
      }
    }
    if (ok) kept.push(i)
  }
  return kept
}

export interface DetectionOptions {
  /** Model outputs holding the boxes ([N, B, 4] or [B, 4]) and the scores ([N, B, C], [N, B] or [B, C]). */
  readonly boxes: string
  readonly scores: string
  /** The score column to use (UltraFace: 1 = face). Without it, every class but `background` competes. */
  readonly classIndex?: number
  readonly background?: number
  readonly activation: 'none' | 'sigmoid' | 'softmax'
  readonly scoreThreshold: number
  readonly iouThreshold: number
  readonly maxDetections: number
  readonly candidates: number
  readonly boxFormat: BoxFormat
  /** Boxes in fractions of the model input (true) or in its pixels. */
  readonly normalized: boolean
  /** The model input size in pixels, [width, height]: clips pixel boxes when there is no geometry. */
  readonly inputSize?: readonly [number, number]
  readonly labels?: readonly string[]
  /** Decimals of box coordinates: by default 1 for pixels, 4 for fractions. */
  readonly digits?: number
}

export const DETECTION_KEYS = ['boxes', 'scores', 'class_index', 'background', 'activation', 'score_threshold', 'iou_threshold', 'max_detections', 'candidates', 'box_format', 'normalized', 'input_size', 'labels', 'digits'] as const

/** Reads the detection parameters (manifest snake_case) once; errors name the parameter. */
export function detectionOptions(p: Params): DetectionOptions {
  const boxes = str(p, 'boxes', 'boxes')
  const scores = str(p, 'scores', 'scores')
  const classIndex = p.class_index === undefined ? undefined : num(p, 'class_index', undefined, { integer: true, min: 0 })
  const background = p.background === undefined ? undefined : num(p, 'background', undefined, { integer: true, min: 0 })
  if (classIndex !== undefined && background !== undefined) throw new Error("give 'class_index' (one class) or 'background' (every other class), not both")
  const activation = oneOf(p, 'activation', ['none', 'sigmoid', 'softmax'] as const, 'none')
  const scoreThreshold = num(p, 'score_threshold', 0.5, { min: 0 })
  const iouThreshold = num(p, 'iou_threshold', 0.45, { min: 0, max: 1 })
  const maxDetections = num(p, 'max_detections', 100, { integer: true, min: 1 })
  const candidates = num(p, 'candidates', 5000, { integer: true, min: 1 })
  const boxFormat = oneOf<BoxFormat>(p, 'box_format', ['xyxy', 'xywh', 'cxcywh'], 'xyxy')
  const normalized = bool(p, 'normalized', true)
  let inputSize: [number, number] | undefined
  if (p.input_size !== undefined) {
    const v = p.input_size
    if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => Number.isInteger(x) && (x as number) > 0)) throw new Error("'input_size' must be [width, height] in pixels")
    inputSize = [v[0] as number, v[1] as number]
  }
  let labels: string[] | undefined
  if (p.labels !== undefined) {
    if (!Array.isArray(p.labels) || !p.labels.every((l) => typeof l === 'string')) throw new Error("'labels' must be a list of strings, one per score column")
    labels = p.labels as string[]
  }
  const digits = p.digits === undefined ? undefined : num(p, 'digits', undefined, { integer: true, min: 0, max: 12 })
  return { boxes, scores, classIndex, background, activation, scoreThreshold, iouThreshold, maxDetections, candidates, boxFormat, normalized, inputSize, labels, digits }
}

const numbers = (t: Tensor): ArrayLike<number> => (t.data instanceof BigInt64Array ? Float64Array.from(t.data, Number) : (t.data as ArrayLike<number>))
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1)
const round = (v: number, digits: number) => {
  const f = 10 ** digits
  return Math.round(v * f) / f
}

/**
 * Compiles the detection decoder: model outputs (and, when given, each row's image geometry) to
 * one list of detections per image, best first, boxes as {x, y, width, height}. With geometry the
 * boxes are in the original image's pixels; without, in the model's own units.
 */
export function compileDetections(o: DetectionOptions): (outputs: Readonly<Record<string, Tensor>>, geometry?: readonly Geometry[]) => Detection[][] {
  return (outputs, geometry) => {
    const bt = outputs[o.boxes]
    const st = outputs[o.scores]
    const names = Object.keys(outputs).join(', ')
    if (!bt) throw new Error(`nms: the model has no output '${o.boxes}' (outputs: ${names}); set 'boxes'`)
    if (!st) throw new Error(`nms: the model has no output '${o.scores}' (outputs: ${names}); set 'scores'`)
    if (bt.shape.at(-1) !== 4 || (bt.shape.length !== 2 && bt.shape.length !== 3)) throw new Error(`nms: boxes '${o.boxes}' must be [N, boxes, 4] or [boxes, 4], got ${JSON.stringify(bt.shape)}`)
    const n = bt.shape.length === 3 ? bt.shape[0]! : 1
    const count = bt.shape.at(-2)!
    const classes = count * n > 0 ? size(st.shape) / (n * count) : 1
    if (!Number.isInteger(classes) || classes < 1) throw new Error(`nms: scores ${JSON.stringify(st.shape)} do not match boxes ${JSON.stringify(bt.shape)}`)
    if (o.classIndex !== undefined && o.classIndex >= classes) throw new Error(`nms: class_index ${o.classIndex} is out of range: the scores have ${classes} column(s)`)
    if (o.labels && o.labels.length !== classes) throw new Error(`nms: ${o.labels.length} labels for ${classes} score columns`)
    if (geometry && geometry.length !== n) throw new Error(`nms: ${geometry.length} image geometries for a batch of ${n}`)
    const allBoxes = numbers(bt)
    const allScores = numbers(st)
    const digits = o.digits ?? (geometry || !o.normalized ? 1 : 4)
    const out: Detection[][] = []
    for (let r = 0; r < n; r++) {
      // Candidates: (box, class, score) triples, as flat arrays for the suppression loop.
      const xyxy: number[] = []
      const score: number[] = []
      const cls: number[] = []
      const box: number[] = []
      const rowScores = new Float64Array(classes)
      for (let b = 0; b < count; b++) {
        const so = (r * count + b) * classes
        for (let c = 0; c < classes; c++) rowScores[c] = allScores[so + c]!
        activate(rowScores, o.activation)
        const bo = (r * count + b) * 4
        let x1 = allBoxes[bo]!, y1 = allBoxes[bo + 1]!, x2 = allBoxes[bo + 2]!, y2 = allBoxes[bo + 3]!
        if (o.boxFormat === 'xywh') {
          x2 = x1 + x2
          y2 = y1 + y2
        } else if (o.boxFormat === 'cxcywh') {
          const [cx, cy, w, h] = [x1, y1, x2, y2]
          x1 = cx - w / 2
          y1 = cy - h / 2
          x2 = cx + w / 2
          y2 = cy + h / 2
        }
        const consider = (c: number) => {
          const s = rowScores[c]!
          if (!(s >= o.scoreThreshold)) return
          xyxy.push(x1, y1, x2, y2)
          score.push(s)
          cls.push(c)
          box.push(b)
        }
        if (o.classIndex !== undefined) consider(o.classIndex)
        else if (classes === 1) consider(0)
        else for (let c = 0; c < classes; c++) if (c !== o.background) consider(c)
      }
      const multi = o.classIndex === undefined && classes > 1
      const kept = nonMaxSuppression(xyxy, score, { iouThreshold: o.iouThreshold, maxDetections: o.maxDetections, candidates: o.candidates, classes: multi ? cls : undefined })
      const g = geometry?.[r]
      out.push(
        kept.map((k) => {
          let [x1, y1, x2, y2] = [xyxy[4 * k]!, xyxy[4 * k + 1]!, xyxy[4 * k + 2]!, xyxy[4 * k + 3]!]
          if (g) {
            const sx = o.normalized ? g.canvasWidth : 1
            const sy = o.normalized ? g.canvasHeight : 1
            ;[x1, y1, x2, y2] = boxToImage(g, x1 * sx, y1 * sy, x2 * sx, y2 * sy)
          } else {
            const [w, h] = o.normalized ? [1, 1] : (o.inputSize ?? [Infinity, Infinity])
            ;[x1, y1, x2, y2] = [clip(x1, w), clip(y1, h), clip(x2, w), clip(y2, h)]
          }
          const d: { box: Box; score: number; class?: number; label?: string } = {
            box: { x: round(x1, digits), y: round(y1, digits), width: round(Math.max(0, x2 - x1), digits), height: round(Math.max(0, y2 - y1), digits) },
            score: round(score[k]!, 4),
          }
          if (multi) d.class = cls[k]!
          if (o.labels) d.label = o.labels[cls[k]!]!
          return d
        }),
      )
    }
    return out
  }
}

const clip = (v: number, hi: number) => Math.min(hi, Math.max(0, v))

function activate(row: Float64Array, a: DetectionOptions['activation']): void {
  if (a === 'sigmoid') for (let i = 0; i < row.length; i++) row[i] = 1 / (1 + Math.exp(-row[i]!))
  else if (a === 'softmax') {
    let max = -Infinity
    for (const v of row) if (v > max) max = v
    let sum = 0
    for (let i = 0; i < row.length; i++) sum += row[i] = Math.exp(row[i]! - max)
    for (let i = 0; i < row.length; i++) row[i]! /= sum
  }
}

type PostContext = Parameters<ReturnType<StepDefinition['compile']>>[1]

const USAGE =
  '{op: nms, boxes?: boxes, scores?: scores, class_index?: 1 | background?: 0, score_threshold?: 0.5, iou_threshold?: 0.45, max_detections?: 100, ' +
  'box_format?: xyxy|xywh|cxcywh, normalized?: true, activation?: none|sigmoid|softmax, labels?: [..], image?: <image op meta prefix>, ' +
  'key?: detections, count?: count|false, unwrap?: true, digits?: <n>}'

/**
 * The `nms` post op: boxes and scores from a detector to `{detections: [{box, score}], count}`
 * per image (a list over the batch, or the one object with unwrap: true). With `image: <prefix>`
 * the boxes are mapped back to the original image's pixels through the geometry the image op
 * recorded, which needs the request frame in the post-processing context.
 */
export const nmsOp: StepDefinition = {
  usage: USAGE,
  compile(p) {
    onlyKnown(p, [...DETECTION_KEYS, 'image', 'key', 'count', 'unwrap'])
    const detect = compileDetections(detectionOptions(p))
    const image = p.image === undefined ? undefined : str(p, 'image')
    const key = str(p, 'key', 'detections')
    const countKey = p.count === false ? undefined : str(p, 'count', 'count')
    const unwrap = bool(p, 'unwrap', false)
    return (value, ctx: PostContext) => {
      if (!value || typeof value !== 'object' || Array.isArray(value) || 'dtype' in value) {
        throw new Error("nms: needs the model's named outputs; put it first in postprocess (no 'select' before it)")
      }
      let geometry: Geometry[] | undefined
      if (image) {
        const frame = ctx.frame
        if (!frame) {
          throw new Error(`nms: 'image: ${image}' maps boxes to image pixels using the request frame, and this call has none; remove 'image' to get boxes in fractions of the model input`)
        }
        geometry = readGeometry(frame, image)
      }
      const rows = detect(value as Record<string, Tensor>, geometry).map((d) => ({ [key]: d, ...(countKey ? { [countKey]: d.length } : {}) }))
      return unwrap && rows.length === 1 ? rows[0] : rows
    }
  },
}
