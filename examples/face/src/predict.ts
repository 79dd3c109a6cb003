// The face portrait service (seed 001): faces in a photo, each with its age and gender.
// What the seed's `Deployment.request` did by hand, in three steps:
//   1. the manifest's `image` op has already decoded the upload (multipart or base64) into
//      UltraFace's input tensor and recorded the photo's geometry;
//   2. UltraFace scores 4420 anchors, NMS keeps one box per face, mapped back to the photo's pixels;
//   3. each face is cropped from the full-resolution photo and goes through face-api's age/gender net.
import { defineHandler } from '@mlx/core'
import { compileDetections, cropImage, detectionOptions, readGeometry, type Pixels } from '@mlx/runtime-image'
import { ageAndGender } from './age-gender.js'

/** UltraFace's scores are [background, face]; its boxes are x1,y1,x2,y2 in fractions of the input. */
const detectFaces = compileDetections(detectionOptions({ class_index: 1, score_threshold: 0.7, iou_threshold: 0.3, max_detections: 50 }))

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits

export default defineHandler(async (input, ctx) => {
  const frame = input.frame!
  const outputs = await ctx.models.ultraface!.predict(frame)
  // One image per request (the image op's max_images: 1), so one list of faces.
  const [faces = []] = detectFaces(outputs, readGeometry(frame, 'image'))
  const photo = (frame.columns.get('image') as Buffer[])[0]!
  // The detection box as is, as face-api does with its own detector's boxes (the net pads it to a
  // square). A wider margin pulls in hair, helmet or collar, and the estimates drift with it.
  const crops: Pixels[] = await Promise.all(faces.map((f) => cropImage(photo, f.box)))
  const ages = await ageAndGender(crops)
  ctx.log.debug(`face: ${faces.length} face(s)`)
  return {
    faces: faces.map((f, i) => ({
      box: f.box,
      score: f.score,
      age: round(ages[i]!.age, 1),
      gender: ages[i]!.gender,
      gender_probability: round(ages[i]!.genderProbability, 4),
    })),
    count: faces.length,
  }
})
