import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { frameOpNames, PluginRegistry, RequestInvalid, stepNames, type Column, type Frame, type Tensor } from '@mlx/core'
import plugin, { cropImage, imageOp, placeImage, canvasToImage, imageToCanvas, readGeometry, sniffFormat, IMAGE_FORMATS } from './index.js'

/** A raw RGB(A) picture from rows of [r, g, b(, a)] pixels, encoded by sharp. */
function picture(rows: number[][][], format: 'png' | 'jpeg' = 'png', extra?: (s: sharp.Sharp) => sharp.Sharp): Promise<Buffer> {
  const height = rows.length
  const width = rows[0]!.length
  const channels = rows[0]![0]!.length as 3 | 4
  const img = sharp(Buffer.from(rows.flat(2)), { raw: { width, height, channels } })
  const out = format === 'png' ? img.png() : img.jpeg({ quality: 95 })
  return (extra ? extra(out) : out).toBuffer()
}
const R = [255, 0, 0]
const G = [0, 255, 0]
const B = [0, 0, 255]
const W = [255, 255, 255]
/** 2×2: red green / blue white. */
const tiny = () => picture([[R, G], [B, W]])

/** Left half red, right half blue. */
const halves = (w: number, h: number) => Array.from({ length: h }, () => Array.from({ length: w }, (_, x) => (x < w / 2 ? R : B)))

function compile(params: Record<string, unknown>, columns = new Map([['image', false]])) {
  return imageOp.compile({ field: 'image', to: 'input', ...params }, columns)
}

async function run(params: Record<string, unknown>, files: (Buffer | null)[]): Promise<Frame> {
  const op = compile(params)
  const frame: Frame = { rows: files.length, columns: new Map<string, Column>([['image', files]]) }
  await op(frame, 'body')
  return frame
}
const tensor = (f: Frame, name = 'input') => f.columns.get(name) as Tensor

async function problems(params: Record<string, unknown>, files: (Buffer | null)[]) {
  const err = await run(params, files).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(RequestInvalid)
  expect((err as RequestInvalid).statusCode).toBe(422)
  return (err as RequestInvalid).detail
}

describe('image op: pixels into tensors', () => {
  it('orders a known 2x2 image as NCHW and NHWC, RGB and BGR', async () => {
    const png = await tiny()
    const base = { width: 2, height: 2, dtype: 'uint8', kernel: 'nearest' }
    const nchw = tensor(await run(base, [png]))
    expect(nchw.shape).toEqual([1, 3, 2, 2])
    expect(nchw.dtype).toBe('uint8')
    expect([...(nchw.data as Uint8Array)]).toEqual([255, 0, 0, 255, /* G */ 0, 255, 0, 255, /* B */ 0, 0, 255, 255])
    const nhwc = tensor(await run({ ...base, layout: 'nhwc' }, [png]))
    expect(nhwc.shape).toEqual([1, 2, 2, 3])
    expect([...(nhwc.data as Uint8Array)]).toEqual([...R, ...G, ...B, ...W])
    const bgr = tensor(await run({ ...base, layout: 'nhwc', colour: 'bgr' }, [png]))
    expect([...(bgr.data as Uint8Array)]).toEqual([0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255])
    const gray = tensor(await run({ ...base, colour: 'gray' }, [png]))
    expect(gray.shape).toEqual([1, 1, 2, 2])
    const g = [...(gray.data as Uint8Array)]
    // Luma: green is brightest of the primaries, blue darkest, white is 255.
    expect(g[3]).toBe(255)
    expect(g[1]!).toBeGreaterThan(g[0]!)
    expect(g[0]!).toBeGreaterThan(g[2]!)
  })

  it('normalises with mean/std per channel, or scale 1/255 then ImageNet mean/std', async () => {
    const png = await tiny()
    const t = tensor(await run({ width: 2, height: 2, kernel: 'nearest', mean: 127, std: 128 }, [png]))
    expect(t.dtype).toBe('float32')
    const d = t.data as Float32Array
    expect(d[0]).toBeCloseTo((255 - 127) / 128, 6) // R of red
    expect(d[1]).toBeCloseTo((0 - 127) / 128, 6) // R of green
    const mean = [0.485, 0.456, 0.406]
    const std = [0.229, 0.224, 0.225]
    const inet = tensor(await run({ width: 2, height: 2, kernel: 'nearest', scale: '1/255', mean, std }, [png])).data as Float32Array
    expect(inet[0]).toBeCloseTo((1 - 0.485) / 0.229, 5) // R plane, red pixel
    expect(inet[4 + 0]).toBeCloseTo((0 - 0.456) / 0.224, 5) // G plane, red pixel
    expect(inet[8 + 2]).toBeCloseTo((1 - 0.406) / 0.225, 5) // B plane, blue pixel
  })

  it('stacks several rows into one batch and records each one\'s geometry', async () => {
    const a = await picture(halves(40, 20))
    const b = await picture(halves(10, 30))
    const f = await run({ width: 16, height: 16, fit: 'contain' }, [a, b])
    expect(tensor(f).shape).toEqual([2, 3, 16, 16])
    const [ga, gb] = readGeometry(f, 'image')
    expect(ga).toMatchObject({ width: 40, height: 20, canvasWidth: 16, canvasHeight: 16, scaleX: 0.4, scaleY: 0.4, padX: 0, padY: 4 })
    expect(gb!.width).toBe(10)
    expect(gb!.height).toBe(30)
    expect(gb!.padY).toBe(0)
    expect(gb!.padX).toBe(Math.floor((16 - 5) / 2))
    expect(f.columns.get('image_width')).toEqual(Float64Array.from([40, 10]))
  })
})

describe('image op: fit and letterbox geometry', () => {
  it('computes fill, contain and cover placements that map back exactly', () => {
    const fill = placeImage(640, 480, 320, 240, 'fill')
    expect(fill).toMatchObject({ scaleX: 0.5, scaleY: 0.5, padX: 0, padY: 0, resizedWidth: 320, resizedHeight: 240 })
    const stretch = placeImage(512, 512, 320, 240, 'fill')
    expect(stretch.scaleX).toBeCloseTo(320 / 512)
    expect(stretch.scaleY).toBeCloseTo(240 / 512)
    const contain = placeImage(640, 480, 320, 320, 'contain')
    expect(contain).toMatchObject({ resizedWidth: 320, resizedHeight: 240, padX: 0, padY: 40, scaleX: 0.5, scaleY: 0.5 })
    const topLeft = placeImage(640, 480, 320, 320, 'contain', 'top-left')
    expect(topLeft).toMatchObject({ padX: 0, padY: 0 })
    const cover = placeImage(640, 480, 320, 320, 'cover')
    expect(cover).toMatchObject({ resizedWidth: 427, resizedHeight: 320, padX: -53, padY: 0 })
    for (const g of [fill, stretch, contain, topLeft, cover]) {
      const [cx, cy] = imageToCanvas(g, 123.5, 77)
      const [x, y] = canvasToImage(g, cx, cy)
      expect(x).toBeCloseTo(123.5, 9)
      expect(y).toBeCloseTo(77, 9)
    }
  })

  it('letterboxes with the background colour around the resized image', async () => {
    // 40×20 red|blue into 20×20: resized to 20×10, 5 rows of padding above and below.
    const png = await picture(halves(40, 20))
    const f = await run({ width: 20, height: 20, fit: 'contain', background: [0, 255, 0], dtype: 'uint8', layout: 'nhwc' }, [png])
    const d = tensor(f).data as Uint8Array
    const px = (x: number, y: number) => [...d.subarray((y * 20 + x) * 3, (y * 20 + x) * 3 + 3)]
    expect(px(0, 0)).toEqual([0, 255, 0])
    expect(px(10, 4)).toEqual([0, 255, 0])
    expect(px(2, 5)).toEqual([255, 0, 0])
    expect(px(17, 14)).toEqual([0, 0, 255])
    expect(px(19, 15)).toEqual([0, 255, 0])
    expect(readGeometry(f, 'image')[0]).toMatchObject({ padX: 0, padY: 5, scaleX: 0.5, scaleY: 0.5 })
  })

  it('normalises the padding like the pixels (float32)', async () => {
    const png = await picture(halves(40, 20))
    const d = tensor(await run({ width: 20, height: 20, fit: 'contain', background: 255, mean: 127, std: 128 }, [png])).data as Float32Array
    expect(d[0]).toBeCloseTo(1, 6) // R plane, padding (white)
    expect(d[400 + 0]).toBeCloseTo(1, 6) // G plane, padding
    expect(d[5 * 20 + 2]).toBeCloseTo(1, 6) // R plane, red pixel
    expect(d[400 + 5 * 20 + 2]).toBeCloseTo(-127 / 128, 6) // G plane, red pixel
  })

  it('cover crops the overflow, centred', async () => {
    // 40×20 red|blue into 10×10: resized to 20×10, 5 columns cut on each side; still red|blue.
    const png = await picture(halves(40, 20))
    const f = await run({ width: 10, height: 10, fit: 'cover', dtype: 'uint8', layout: 'nhwc', kernel: 'nearest' }, [png])
    const d = tensor(f).data as Uint8Array
    expect([...d.subarray(0, 3)]).toEqual(R)
    expect([...d.subarray(9 * 3, 9 * 3 + 3)]).toEqual(B)
    expect(readGeometry(f, 'image')[0]).toMatchObject({ padX: -5, padY: 0, scaleX: 0.5 })
  })
})

describe('image op: orientation and alpha', () => {
  it('turns an EXIF-rotated JPEG upright (orientation 6), unless rotate: none', async () => {
    // Stored 40×20 red|blue with orientation 6 (rotate 90° clockwise to view): viewed 20×40, red on top.
    const jpg = await picture(halves(40, 20), 'jpeg', (s) => s.withMetadata({ orientation: 6 }))
    expect((await sharp(jpg).metadata()).orientation).toBe(6)
    const f = await run({ width: 20, height: 40, dtype: 'uint8', layout: 'nhwc' }, [jpg])
    expect(readGeometry(f, 'image')[0]).toMatchObject({ width: 20, height: 40 })
    const d = tensor(f).data as Uint8Array
    const px = (x: number, y: number) => [...d.subarray((y * 20 + x) * 3, (y * 20 + x) * 3 + 3)]
    expect(px(10, 5)[0]).toBeGreaterThan(200) // red on top
    expect(px(10, 5)[2]).toBeLessThan(60)
    expect(px(10, 35)[2]).toBeGreaterThan(200) // blue below
    const raw = await run({ width: 40, height: 20, rotate: 'none' }, [jpg])
    expect(readGeometry(raw, 'image')[0]).toMatchObject({ width: 40, height: 20 })
  })

  it('flattens a PNG with alpha onto the background', async () => {
    // Opaque red, fully transparent "green", half-transparent blue, opaque white.
    const png = await picture([[[255, 0, 0, 255], [0, 255, 0, 0]], [[0, 0, 255, 128], [255, 255, 255, 255]]])
    const d = tensor(await run({ width: 2, height: 2, dtype: 'uint8', layout: 'nhwc', kernel: 'nearest' }, [png])).data as Uint8Array
    expect(tensor(await run({ width: 2, height: 2, dtype: 'uint8' }, [png])).shape).toEqual([1, 3, 2, 2])
    expect([...d.subarray(0, 3)]).toEqual([255, 0, 0])
    expect([...d.subarray(3, 6)]).toEqual([0, 0, 0]) // transparent → black background
    expect(d[8]).toBeGreaterThan(120) // half blue over black
    expect(d[8]).toBeLessThan(136)
    const white = tensor(await run({ width: 2, height: 2, dtype: 'uint8', layout: 'nhwc', kernel: 'nearest', background: [255, 255, 255] }, [png])).data as Uint8Array
    expect([...white.subarray(3, 6)]).toEqual([255, 255, 255])
  })

  it('crops a region in upright coordinates for a second model', async () => {
    const jpg = await picture(halves(40, 20), 'jpeg', (s) => s.withMetadata({ orientation: 6 }))
    const top = await cropImage(jpg, { x: 2, y: 2, width: 16, height: 10 })
    expect(top).toMatchObject({ width: 16, height: 10, channels: 3 })
    expect(top.data[0]).toBeGreaterThan(200)
    const square = await cropImage(jpg, { x: 5, y: 25, width: 10, height: 6 }, { square: true, margin: 0.1, size: [8, 8] })
    expect(square).toMatchObject({ width: 8, height: 8 })
    expect(square.data[2]).toBeGreaterThan(200) // blue half
  })
})

describe('image op: refusing what is not an image', () => {
  it('answers garbage bytes with a 422 problem naming the field', async () => {
    const detail = await problems({ width: 8, height: 8 }, [Buffer.from('this is a text file, not a picture\n')])
    expect(detail).toEqual([{ type: 'image_invalid', loc: ['body', 'image'], msg: expect.stringMatching(/'image' is not a usable image: the file is not an image \(expected JPEG, PNG, WebP\)/), input: null }])
  })

  it('refuses truncated JPEG and PNG files and empty files', async () => {
    const jpg = await picture(halves(64, 48), 'jpeg')
    const png = await picture(halves(64, 48))
    for (const cut of [jpg.subarray(0, jpg.length - 100), png.subarray(0, png.length - 30)]) {
      const [p] = await problems({ width: 8, height: 8 }, [cut])
      expect(p).toMatchObject({ type: 'image_invalid', loc: ['body', 'image'] })
      expect(p!.msg).toMatch(/corrupt or truncated/)
    }
    const [empty] = await problems({ width: 8, height: 8 }, [Buffer.alloc(0)])
    expect(empty!.msg).toMatch(/empty/)
  })

  it('refuses a decompression bomb from its header, before decoding (default limit 40 M pixels)', async () => {
    // 8000×8000 = 64 M pixels of white compresses to a small PNG.
    const bomb = await sharp({ create: { width: 8000, height: 8000, channels: 3, background: '#ffffff' } }).png({ compressionLevel: 9 }).toBuffer()
    expect(bomb.length).toBeLessThan(1_000_000)
    const t0 = performance.now()
    const [p] = await problems({ width: 8, height: 8 }, [bomb])
    expect(performance.now() - t0).toBeLessThan(2000)
    expect(p).toMatchObject({ type: 'image_too_large', loc: ['body', 'image'], ctx: { width: 8000, height: 8000, max_pixels: 40_000_000 } })
    expect(p!.msg).toMatch(/8000x8000 = 64000000 pixels, more than the 40000000/)
    const [small] = await problems({ width: 8, height: 8, max_pixels: 1000 }, [await picture(halves(40, 40))])
    expect(small!.type).toBe('image_too_large')
  })

  it('accepts only the listed formats (JPEG, PNG, WebP by default)', async () => {
    const gif = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } }).gif().toBuffer()
    const [p] = await problems({ width: 4, height: 4 }, [gif])
    expect(p).toMatchObject({ type: 'image_format', ctx: { format: 'gif' } })
    const webp = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } }).webp().toBuffer()
    expect(tensor(await run({ width: 4, height: 4 }, [webp])).shape).toEqual([1, 3, 4, 4])
    expect(tensor(await run({ width: 4, height: 4, formats: ['gif'] }, [gif])).shape).toEqual([1, 3, 4, 4])
    const avif = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } }).avif().toBuffer()
    expect(sniffFormat(avif)).toBe('avif')
    expect((await problems({ width: 4, height: 4 }, [avif]))[0]).toMatchObject({ type: 'image_format', ctx: { format: 'avif' } })
    expect(tensor(await run({ width: 4, height: 4, formats: ['avif'] }, [avif])).shape).toEqual([1, 3, 4, 4])
  })

  it('never hands SVG, PDF or other non-raster formats to a decoder', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>')
    const pdf = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n')
    for (const file of [svg, pdf]) {
      expect(sniffFormat(file)).toBeUndefined()
      const [p] = await problems({ width: 4, height: 4, formats: [...IMAGE_FORMATS] }, [file])
      expect(p).toMatchObject({ type: 'image_invalid', msg: expect.stringContaining('the file is not an image') })
    }
    expect(sniffFormat(await tiny())).toBe('png')
    expect(sniffFormat(await picture(halves(4, 4), 'jpeg'))).toBe('jpeg')
  })

  it('locates the bad row in a batch, and enforces max_images', async () => {
    const ok = await tiny()
    const detail = await problems({ width: 2, height: 2 }, [ok, Buffer.from('nope'), null])
    expect(detail.map((d) => d.loc)).toEqual([['body', 'image', 1], ['body', 'image', 2]])
    const [many] = await problems({ width: 2, height: 2, max_images: 1 }, [ok, ok])
    expect(many).toMatchObject({ type: 'too_long', loc: ['body', 'image'], ctx: { max_length: 1 } })
  })
})

describe('image op: manifest parameters are checked at startup', () => {
  const bad = (params: Record<string, unknown>, columns?: Map<string, boolean>) => () => compile(params, columns)
  it('names the wrong parameter', () => {
    expect(bad({ height: 8 })).toThrow("'width' is required")
    expect(bad({ width: 8, hieght: 8 })).toThrow("unknown parameter 'hieght'")
    expect(bad({ width: 0, height: 8 })).toThrow("'width' must be at least 1")
    expect(bad({ width: 8.5, height: 8 })).toThrow("'width' must be an integer")
    expect(bad({ width: 8, height: 8, fit: 'squash' })).toThrow("'fit' must be one of fill, contain, cover")
    expect(bad({ width: 8, height: 8, layout: 'chwn' })).toThrow("'layout' must be one of nchw, nhwc")
    expect(bad({ width: 8, height: 8, color: 'cmyk' })).toThrow("'color' must be one of rgb, bgr, gray")
    expect(bad({ width: 8, height: 8, color: 'rgb', colour: 'bgr' })).toThrow("not both")
    expect(bad({ width: 8, height: 8, mean: [1, 2] })).toThrow("'mean' must be one number or 3 (one per channel), got 2")
    expect(bad({ width: 8, height: 8, std: 0 })).toThrow("'std' must not be 0")
    expect(bad({ width: 8, height: 8, dtype: 'uint8', mean: 127 })).toThrow('apply to dtype float32 only')
    expect(bad({ width: 8, height: 8, background: [0, 0, 300] })).toThrow("'background'")
    expect(bad({ width: 8, height: 8, rotate: 'sideways' })).toThrow("'rotate' must be exif")
    expect(bad({ width: 8, height: 8, formats: ['bmp'] })).toThrow("'formats' may list")
    expect(bad({ width: 8, height: 8, field: 'photo' })).toThrow("no column 'photo'")
    expect(bad({ width: 8, height: 8 }, new Map([['image', true]]))).toThrow('is numeric')
    expect(bad({ width: 8, height: 8, to: 'image' })).toThrow("'to' must differ from 'field'")
    expect(bad({ width: 8, height: 8 }, new Map([['image', false], ['image_width', true]]))).toThrow("column 'image_width' already exists")
  })

  it('declares the tensor and geometry columns for the ops after it', () => {
    const columns = new Map([['image', false]])
    compile({ width: 8, height: 8, meta: 'photo' }, columns)
    expect([...columns.keys()]).toEqual(['image', 'input', 'photo_width', 'photo_height', 'photo_canvas_width', 'photo_canvas_height', 'photo_scale_x', 'photo_scale_y', 'photo_pad_x', 'photo_pad_y'])
    const none = new Map([['image', false]])
    compile({ width: 8, height: 8, meta: false }, none)
    expect([...none.keys()]).toEqual(['image', 'input'])
  })

  it('registers image and nms with core through the plugin registry', async () => {
    await new PluginRegistry().register(plugin)
    expect(frameOpNames()).toContain('image')
    expect(stepNames()).toContain('nms')
  })
})
