// GET /predict: core has already validated the query (422 on a bad datetime or number) and run
// the preprocess steps in mlx.yaml (haversine distance, datetime parts, the stacking order), so
// this only runs the model and answers the seed's {"fare": <number>}: one ride, one number.
import { defineHandler } from '@mlx/core'

export default defineHandler(async ({ frame }, { models }) => {
  const out = await models.taxifare!.predict(frame!)
  const fare = Number((out.fare!.data as Float32Array)[0])
  return { fare: Math.round(fare * 100) / 100 }
})
