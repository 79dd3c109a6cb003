import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { MlxError } from '../errors.js'

/**
 * Compiles a handler's folder (the handler and the modules beside it) from TypeScript to ESM
 * JavaScript. TypeScript is loaded only here, at package/serve time: the served bundle carries
 * plain .js and never the compiler.
 */
export async function compileHandlerDir(srcDir: string, outDir: string): Promise<void> {
  let ts: typeof import('typescript')
  try {
    ts = (await import('typescript')).default
  } catch (err) {
    throw new MlxError('HANDLER_INVALID', 'TypeScript handlers need the typescript package, which is not installed.', {
      hint: 'npm install -D typescript in the project (or write the handler in .js/.mjs).',
      cause: err,
    })
  }
  const files = await listSources(srcDir)
  await mkdir(outDir, { recursive: true })
  await writeFile(path.join(outDir, 'package.json'), '{ "type": "module" }\n')
  for (const rel of files) {
    const src = path.join(srcDir, rel)
    const text = await readFile(src, 'utf8')
    const target = path.join(outDir, rel.replace(/\.(m?)ts$/, '.$1js'))
    await mkdir(path.dirname(target), { recursive: true })
    if (/\.(m?js)$/.test(rel)) {
      await writeFile(target, text)
      continue
    }
    const out = ts.transpileModule(text, {
      fileName: src,
      reportDiagnostics: true,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        sourceMap: false,
        verbatimModuleSyntax: false,
        rewriteRelativeImportExtensions: true,
      },
    })
    const errors = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error)
    if (errors.length) {
      const d = errors[0]!
      const pos = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined
      throw new MlxError('HANDLER_INVALID', `${src}${pos ? `:${pos.line + 1}:${pos.character + 1}` : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`, {
        hint: 'fix the syntax error in the handler.',
        file: src,
      })
    }
    await writeFile(target, out.outputText)
  }
}

async function listSources(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = path.join(prefix, e.name)
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && !e.name.startsWith('.')) out.push(...(await listSources(dir, rel)))
    } else if (/\.(m?ts|m?js)$/.test(e.name) && !/\.d\.m?ts$/.test(e.name) && !/\.test\./.test(e.name)) out.push(rel)
  }
  return out.sort()
}

/** Where a handler compiled into `outDir` ends up: same relative path, .ts → .js. */
export function compiledHandlerPath(outDir: string, handlerRel: string): string {
  return path.join(outDir, path.basename(handlerRel).replace(/\.(m?)ts$/, '.$1js'))
}
