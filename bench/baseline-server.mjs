// The bare baseline: node:http + onnxruntime-node serving the same titanic model, with no
// framework, no validation beyond what building tensors needs, and no metrics.
// Usage: node bench/baseline-server.mjs <model.onnx> <port>
//
// Same request and answer as mlx's POST /predict_function: a column-oriented JSON body
// ({"pclass": [3], "sex": ["male"], ...}), a JSON array of P(survived) per row. Same
// onnxruntime session options as packages/runtimes/onnx (cpu, graphOptimizationLevel 'all',
// logSeverityLevel 3). Same missing-value semantics: null → NaN for numeric inputs, "" for strings;
// booleans → 1/0.
import http from 'node:http'
import ort from 'onnxruntime-node'

const [modelPath, portArg = '8081'] = process.argv.slice(2)
if (!modelPath) {
  process.stderr.write('usage: node bench/baseline-server.mjs <model.onnx> <port>\n')
  process.exit(2)
}

const session = await ort.InferenceSession.create(modelPath, {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  logSeverityLevel: 3,
})
// Every input is [N, 1]; float32 ones take numbers (NaN = missing), string ones take strings ("" = missing).
const inputs = session.inputMetadata.map((m) => ({ name: m.name, string: m.type === 'string' }))
// Fetch every output, as mlx's onnx runtime does, so both servers ask the graph for the same work.
const outputNames = session.outputNames

function feedsFrom(body) {
  let rows = -1
  const feeds = {}
  for (const { name, string } of inputs) {
    let col = body[name]
    if (col === undefined) throw new Error(`missing column '${name}'`)
    if (!Array.isArray(col)) col = [col]
    if (rows < 0) rows = col.length
    else if (col.length !== rows) throw new Error(`column '${name}' has ${col.length} values, expected ${rows}`)
    if (string) {
      const data = new Array(rows)
      for (let i = 0; i < rows; i++) {
        const v = col[i]
        data[i] = v === null || v === undefined ? '' : String(v)
      }
      feeds[name] = new ort.Tensor('string', data, [rows, 1])
    } else {
      const data = new Float32Array(rows)
      for (let i = 0; i < rows; i++) {
        const v = col[i]
        data[i] = typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : NaN
      }
      feeds[name] = new ort.Tensor('float32', data, [rows, 1])
    }
  }
  if (rows < 1) throw new Error('at least one row is needed')
  return { feeds, rows }
}

function reply(res, status, text) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/predict_function') return reply(res, 404, '{"detail":"not found"}')
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', async () => {
    let feeds, rows
    try {
      ;({ feeds, rows } = feedsFrom(JSON.parse(Buffer.concat(chunks).toString('utf8'))))
    } catch (err) {
      return reply(res, 422, JSON.stringify({ detail: String(err.message) }))
    }
    try {
      const out = await session.run(feeds, outputNames)
      const p = out.probabilities.data // float32 [N, 2], row-major
      const answer = new Array(rows)
      for (let i = 0; i < rows; i++) answer[i] = p[i * 2 + 1]
      reply(res, 200, JSON.stringify(answer))
    } catch (err) {
      reply(res, 500, JSON.stringify({ detail: String(err.message) }))
    }
  })
})

const stop = () => server.close(() => session.release().finally(() => process.exit(0)))
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
server.listen(Number(portArg), '127.0.0.1', () => process.stdout.write(`bare node:http + onnxruntime-node serving on http://127.0.0.1:${server.address().port}\n`))
