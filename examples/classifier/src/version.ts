// What /health and /predict report. API_VERSION is mlx.yaml's `version`; MODEL_VERSION is the
// `modelVersion` train/train.mjs wrote into model/metrics.json (test/server.test.ts checks both).
export const PROJECT_NAME = 'Titanic Classification API'
export const API_VERSION = '1.0.0'
export const MODEL_VERSION = '1.0.0'
