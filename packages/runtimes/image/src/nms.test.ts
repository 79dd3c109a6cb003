import { describe, expect, it } from 'vitest'
import type { Column, Frame, Tensor } from '@mlx/core'
import { compileDetections, detectionOptions, iou, nmsOp, nonMaxSuppression, placeImage, writeGeometry } from './index.js'

const f32 = (shape: number[], values: number[]): Tensor => ({ dtype: 'float32', shape, data: Float32Array.from(values) })
const ctx = (frame?: Frame) => ({ rows: frame?.rows ?? 1, body: {}, query: {}, ...(frame ? { frame } : {}) })

describe('iou and greedy NMS on hand-made boxes', () => {
  it('computes intersection over union', () => {
    const b = [0, 0, 10, 10, /* shifted by half */ 5, 0, 15, 10, /* disjoint */ 20, 20, 30, 30, /* inside */ 2, 2, 4, 4]
    expect(iou(b, 0, 0)).toBe(1)
    expect(iou(b, 0, 1)).toBeCloseTo(50 / 150)
    expect(iou(b, 0, 2)).toBe(0)
    expect(iou(b, 0, 3)).toBeCloseTo(4 / 100)
  })

  it('keeps the best of each overlapping cluster, best first', () => {
    // Two faces: boxes 0,1,2 overlap around (0..10), box 3 alone, box 4 overlaps 3 a little.
    const boxes = [0, 0, 10, 10, 1, 1, 11, 11, 0, 1, 10, 11, 50, 50, 60, 60, 58, 58, 68, 68]
    const scores = [0.8, 0.95, 0.7, 0.6, 0.9]
    expect(nonMaxSuppression(boxes, scores, { iouThreshold: 0.5, maxDetections: 10 })).toEqual([1, 4, 3])
    expect(nonMaxSuppression(boxes, scores, { iouThreshold: 0.5, maxDetections: 2 })).toEqual([1, 4])
    expect(nonMaxSuppression(boxes, scores, { iouThreshold: 0.5, maxDetections: 10, scoreThreshold: 0.75 })).toEqual([1, 4])
    // A strict IoU threshold suppresses nothing that does not overlap a lot; 1.0 suppresses only exact copies.
    expect(nonMaxSuppression(boxes, scores, { iouThreshold: 1, maxDetections: 10 })).toEqual([1, 4, 0, 2, 3])
    expect(nonMaxSuppression(boxes, scores, { iouThreshold: 0.5, maxDetections: 10, candidates: 2 })).toEqual([1, 4])
    // Different classes do not suppress each other.
    expect(nonMaxSuppression(boxes, scores, { iouThreshold: 0.5, maxDetections: 10, classes: [0, 1, 0, 0, 0] })).toEqual([1, 4, 0, 3])
  })
})

/** UltraFace-shaped outputs: scores [1, B, 2] (background, face), boxes [1, B, 4] normalised x1,y1,x2,y2. */
function ultraface(dets: { s: number; b: number[] }[]) {
  return {
    scores: f32([1, dets.length, 2], dets.flatMap((d) => [1 - d.s, d.s])),
    boxes: f32([1, dets.length, 4], dets.flatMap((d) => d.b)),
  }
}
const FACES = ultraface([
  { s: 0.99, b: [0.35, 0.12, 0.53, 0.34] },
  { s: 0.97, b: [0.352, 0.125, 0.531, 0.338] },
  { s: 0.2, b: [0.7, 0.7, 0.8, 0.8] },
  { s: 0.9, b: [0.1, 0.5, 0.2, 0.7] },
])

describe('detections from model outputs', () => {
  it('decodes UltraFace outputs in fractions of the input without geometry', () => {
    const detect = compileDetections(detectionOptions({ class_index: 1, score_threshold: 0.7, iou_threshold: 0.3 }))
    const [row] = detect(FACES)
    expect(row).toEqual([
      { box: { x: 0.35, y: 0.12, width: 0.18, height: 0.22 }, score: 0.99 },
      { box: { x: 0.1, y: 0.5, width: 0.1, height: 0.2 }, score: 0.9 },
    ])
  })

  it('maps boxes to original pixels through fill and letterbox geometry', () => {
    const detect = compileDetections(detectionOptions({ class_index: 1, score_threshold: 0.7, iou_threshold: 0.3 }))
    // 512×512 stretched onto 320×240: fractions of the input are fractions of the image.
    const [fill] = detect(FACES, [placeImage(512, 512, 320, 240, 'fill')])
    expect(fill![0]!.box).toEqual({ x: 179.2, y: 61.4, width: 92.2, height: 112.6 })
    // 640×480 letterboxed into 320×320 (scale 0.5, 40 px bands top and bottom).
    const g = placeImage(640, 480, 320, 320, 'contain')
    const boxes = f32([1, 1, 4], [100 / 320, 60 / 320, 200 / 320, 160 / 320])
    const [lb] = detect({ scores: f32([1, 1, 2], [0, 1]), boxes }, [g])
    expect(lb![0]!.box).toEqual({ x: 200, y: 40, width: 200, height: 200 })
    // Boxes reaching into the padding are clipped to the image.
    const [clipped] = detect({ scores: f32([1, 1, 2], [0, 1]), boxes: f32([1, 1, 4], [-0.1, 0, 0.5, 0.5]) }, [g])
    expect(clipped![0]!.box).toEqual({ x: 0, y: 0, width: 320, height: 240 })
  })

  it('reads xywh and cxcywh pixel boxes, multi-class with labels and a background class', () => {
    const detect = compileDetections(detectionOptions({ box_format: 'cxcywh', normalized: false, input_size: [100, 100], background: 0, labels: ['bg', 'cat', 'dog'], score_threshold: 0.5 }))
    const boxes = f32([1, 3, 4], [50, 50, 20, 20, /* same place */ 51, 50, 20, 20, /* off the edge */ 95, 10, 20, 10])
    const scores = f32([1, 3, 3], [0.1, 0.8, 0.1, /* */ 0.1, 0.1, 0.7, /* */ 0.2, 0.6, 0.2])
    const [row] = detect({ boxes, scores })
    expect(row).toEqual([
      { box: { x: 40, y: 40, width: 20, height: 20 }, score: 0.8, class: 1, label: 'cat' },
      { box: { x: 41, y: 40, width: 20, height: 20 }, score: 0.7, class: 2, label: 'dog' },
      { box: { x: 85, y: 5, width: 15, height: 10 }, score: 0.6, class: 1, label: 'cat' },
    ])
    const xywh = compileDetections(detectionOptions({ box_format: 'xywh', normalized: false }))
    expect(xywh({ boxes: f32([2, 4], [1, 2, 3, 4, 1, 2, 3, 4]), scores: f32([2], [0.9, 0.6]) })[0]).toEqual([{ box: { x: 1, y: 2, width: 3, height: 4 }, score: 0.9 }])
  })

  it('applies sigmoid or softmax to logits first', () => {
    const logit = Math.log(0.9 / 0.1)
    const sig = compileDetections(detectionOptions({ activation: 'sigmoid' }))
    expect(sig({ boxes: f32([1, 1, 4], [0, 0, 1, 1]), scores: f32([1, 1, 1], [logit]) })[0]![0]!.score).toBe(0.9)
    const soft = compileDetections(detectionOptions({ activation: 'softmax', class_index: 1 }))
    expect(soft({ boxes: f32([1, 1, 4], [0, 0, 1, 1]), scores: f32([1, 1, 2], [0, logit]) })[0]![0]!.score).toBe(0.9)
  })

  it('handles a batch: one list per image', () => {
    const detect = compileDetections(detectionOptions({ class_index: 1 }))
    const boxes = f32([2, 1, 4], [0, 0, 0.5, 0.5, 0.5, 0.5, 1, 1])
    const scores = f32([2, 1, 2], [0.1, 0.9, 0.9, 0.1])
    const out = detect({ boxes, scores })
    expect(out).toHaveLength(2)
    expect(out[0]).toHaveLength(1)
    expect(out[1]).toEqual([])
  })

  it('says which output or shape is wrong', () => {
    const detect = compileDetections(detectionOptions({ class_index: 2 }))
    expect(() => detect({ boxes: FACES.boxes })).toThrow("no output 'scores' (outputs: boxes)")
    expect(() => detect(FACES)).toThrow('class_index 2 is out of range: the scores have 2 column(s)')
    expect(() => compileDetections(detectionOptions({}))({ scores: FACES.scores, boxes: f32([1, 4, 3], new Array(12).fill(0)) })).toThrow('must be [N, boxes, 4]')
  })
})

describe('nms post op', () => {
  it('answers {detections, count} per image, or the one object with unwrap and a key', () => {
    const list = nmsOp.compile({ class_index: 1, score_threshold: 0.7, iou_threshold: 0.3 }, { root: '.' })
    expect(list(FACES, ctx())).toEqual([{ detections: [expect.anything(), expect.anything()], count: 2 }])
    const one = nmsOp.compile({ class_index: 1, score_threshold: 0.95, key: 'faces', unwrap: true }, { root: '.' })
    expect(one(FACES, ctx())).toEqual({ faces: [{ box: { x: 0.35, y: 0.12, width: 0.18, height: 0.22 }, score: 0.99 }], count: 1 })
    const bare = nmsOp.compile({ class_index: 1, score_threshold: 0.95, count: false, unwrap: true }, { root: '.' })
    expect(bare(FACES, ctx())).toEqual({ detections: [expect.anything()] })
  })

  it('maps to image pixels through the image op geometry when the frame is in the context', () => {
    const op = nmsOp.compile({ class_index: 1, score_threshold: 0.95, image: 'image', key: 'faces', unwrap: true }, { root: '.' })
    const frame: Frame = { rows: 1, columns: new Map<string, Column>() }
    writeGeometry(frame, 'image', [placeImage(512, 512, 320, 240, 'fill')])
    expect(op(FACES, ctx(frame))).toEqual({ faces: [{ box: { x: 179.2, y: 61.4, width: 92.2, height: 112.6 }, score: 0.99 }], count: 1 })
    expect(() => op(FACES, ctx())).toThrow(/using the request frame, and this call has none/)
    const noGeometry = { rows: 1, columns: new Map<string, Column>() }
    expect(() => op(FACES, ctx(noGeometry))).toThrow("no column 'image_width'")
  })

  it('checks its parameters at startup', () => {
    const bad = (p: Record<string, unknown>) => () => nmsOp.compile(p, { root: '.' })
    expect(bad({ iou_treshold: 0.5 })).toThrow("unknown parameter 'iou_treshold'")
    expect(bad({ iou_threshold: 1.5 })).toThrow("'iou_threshold' must be at most 1")
    expect(bad({ max_detections: 0 })).toThrow("'max_detections' must be at least 1")
    expect(bad({ box_format: 'yxyx' })).toThrow("'box_format' must be one of xyxy, xywh, cxcywh")
    expect(bad({ class_index: 1, background: 0 })).toThrow('not both')
    expect(bad({ input_size: [320] })).toThrow("'input_size' must be [width, height]")
    expect(() => nmsOp.compile({}, { root: '.' })(FACES.boxes, ctx())).toThrow("needs the model's named outputs")
  })
})
