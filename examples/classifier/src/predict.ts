// POST /predict: the course's {"inputs": [passenger, ...]} body in, its PredictionResults out.
// The body has already passed the JSON schema in mlx.yaml (types coerced as pydantic would), so
// this only lays the passengers out as the model's columns; title, cabin letter, imputation,
// rare labels, one-hot, scaling and the regression all run inside the ONNX graph.
import { defineHandler, type Column } from '@mlx/core'
import { MODEL_VERSION } from './version.js'

const NUMBERS = ['pclass', 'age', 'sibsp', 'parch', 'fare'] as const
const TEXTS = ['name', 'sex', 'cabin', 'embarked'] as const

type Passenger = Record<string, unknown>

/** NaN and null are the model's "missing"; '?' is the raw data's, as the course's data_manager read it. */
const number = (v: unknown) => (typeof v === 'number' ? v : NaN)
const text = (v: unknown) => (typeof v === 'string' && v !== '' && v !== '?' ? v : null)

export default defineHandler(async ({ body }, { models }) => {
  const passengers = (body as { inputs: Passenger[] }).inputs
  const columns = new Map<string, Column>()
  for (const c of NUMBERS) columns.set(c, Float64Array.from(passengers, (p) => number(p[c])))
  for (const c of TEXTS) columns.set(c, passengers.map((p) => text(p[c])))
  const out = await models.classifier!.predict({ rows: passengers.length, columns })
  const labels = out.label!.data as ArrayLike<bigint | number> // int64: a BigInt64Array from onnxruntime
  return { errors: null, version: MODEL_VERSION, predictions: Array.from(labels, (v) => Number(v)) }
})
