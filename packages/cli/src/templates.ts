/** Starting points for `mlx init`, one per kind of model. */
export const KINDS = ['tabular-classification', 'regression', 'image', 'text'] as const
export type Kind = (typeof KINDS)[number]

const header = (schema: string) => `# yaml-language-server: $schema=${schema}\n`

const tabular = (name: string, schema: string, classification: boolean) => `${header(schema)}name: ${name}
version: 0.1.0
description: ${classification ? 'Tabular classifier' : 'Tabular regression'} served by mlx.

models:
  model:
    runtime: onnx
    # One input per feature named like the columns (the sklearn-onnx layout), or one [N, F] float input.
    path: model/model.onnx

endpoints:
  predict:
    model: model
    input:
      # Feature names, types and docs examples are inferred from this sample (CSV, Parquet or Arrow).
      reference: data/reference.csv
      label: target
${
  classification
    ? `    postprocess:
      # A classifier exported with a [N, classes] probabilities output: answer P(class 1) per row.
      - op: select
        output: probabilities
      - op: column
        index: 1
`
    : `    postprocess:
      - op: select
        output: variable
`
}
targets:
  local:
    port: 8080
`

const REFERENCE = `feature_a,feature_b,category,target
1.5,3,red,1
0.2,7,blue,0
2.8,1,green,1
`

const handlerKind = (name: string, schema: string, kind: 'image' | 'text') => `${header(schema)}name: ${name}
version: 0.1.0
description: ${kind === 'image' ? 'Image model' : 'Text model'} served by mlx through a TypeScript handler.

models:
  model:
    runtime: onnx
    path: model/model.onnx

endpoints:
  predict:
    model: model
    handler: src/predict.ts
    input:
      schema:
        type: object
        required: [${kind === 'image' ? 'image' : 'text'}]
        properties:
          ${kind === 'image' ? 'image: { type: string, description: base64-encoded JPEG or PNG }' : 'text: { type: string, minLength: 1 }'}
      example: { ${kind === 'image' ? 'image: "<base64>"' : 'text: "hello world"'} }

targets:
  local:
    port: 8080
`

const HANDLER = (kind: 'image' | 'text') => `import { defineHandler } from '@mlx/core'

/**
 * Turns the request into the model's input tensors and the outputs into the answer.
 * ctx.models.model.inputs lists the names, dtypes and shapes the model expects.
 */
export default defineHandler(async (input, ctx) => {
  const body = input.body as { ${kind === 'image' ? 'image' : 'text'}: string }
  const model = ctx.models.model!
  const info = model.inputs[0]!
  ${
    kind === 'text'
      ? `// Example encoding: character codes, padded to the model's fixed length.
  const width = typeof info.shape[1] === 'number' && info.shape[1] > 0 ? info.shape[1] : body.text.length
  const codes = Float32Array.from({ length: width }, (_, i) => body.text.charCodeAt(i) || 0)
  const out = await model.run({ [info.name]: { dtype: 'float32', shape: [1, width], data: codes } })`
      : `// Decode and resize the image into the layout the model expects (e.g. with sharp), then:
  const pixels = new Float32Array(3 * 224 * 224)
  void body.image
  const out = await model.run({ [info.name]: { dtype: 'float32', shape: [1, 3, 224, 224], data: pixels } })`
  }
  const first = Object.values(out)[0]!
  return { output: Array.from(first.data as Float32Array) }
})
`

const README = (name: string, kind: Kind) => `# ${name}

An mlx project (${kind}).

1. Put the trained model at \`model/model.onnx\`.
2. ${kind === 'image' || kind === 'text' ? 'Adapt `src/predict.ts` to the model\'s inputs.' : 'Replace `data/reference.csv` with a sample of your training data (same columns as the model inputs, plus the label).'}
3. \`mlx validate\` checks everything; \`mlx serve\` serves it on http://127.0.0.1:8000 with docs at /docs.
4. \`mlx deploy\` runs it in the background on the local target; \`mlx targets\` lists where else it can go.
`

export function templateFiles(kind: Kind, name: string, schema: string): Record<string, string> {
  const common = { 'README.md': README(name, kind), '.gitignore': '.mlx/\nnode_modules/\n', 'model/.gitkeep': '' }
  switch (kind) {
    case 'tabular-classification':
      return { 'mlx.yaml': tabular(name, schema, true), 'data/reference.csv': REFERENCE, ...common }
    case 'regression':
      return { 'mlx.yaml': tabular(name, schema, false), 'data/reference.csv': REFERENCE.replace(/,1\n/g, ',12.5\n').replace(/,0\n/g, ',3.25\n'), ...common }
    case 'image':
    case 'text':
      return { 'mlx.yaml': handlerKind(name, schema, kind), 'src/predict.ts': HANDLER(kind), ...common }
  }
}
