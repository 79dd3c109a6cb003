// GET /health: the course's Health schema (name, api_version, model_version). No model needed.
import { defineHandler } from '@mlx/core'
import { API_VERSION, MODEL_VERSION, PROJECT_NAME } from './version.js'

export default defineHandler(() => ({ name: PROJECT_NAME, api_version: API_VERSION, model_version: MODEL_VERSION }))
