import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Args, Flags } from '@oclif/core'
import { MlxError } from '@mlx/core'
import { MlxCommand } from '../base.js'
import { CORE_DIR } from '../context.js'
import { templateFiles, KINDS, type Kind } from '../templates.js'

export default class Init extends MlxCommand {
  static override summary = 'Create an mlx project: mlx.yaml, a reference-data sample and a README.'
  static override examples = ['<%= config.bin %> init my-model --kind tabular-classification', '<%= config.bin %> init --kind regression']
  static override args = { dir: Args.string({ description: 'Folder to create (or fill).', default: '.' }) }
  static override flags = {
    kind: Flags.string({ char: 'k', description: 'What the model does.', options: [...KINDS], default: 'tabular-classification' }),
    name: Flags.string({ description: 'Project name (default: the folder name).' }),
    force: Flags.boolean({ description: 'Overwrite an existing mlx.yaml.', default: false }),
  }

  async run() {
    const { args, flags } = await this.parse(Init)
    const dir = path.resolve(args.dir)
    const name = (flags.name ?? path.basename(dir)).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z]+/, '') || 'model'
    if (existsSync(path.join(dir, 'mlx.yaml')) && !flags.force) {
      throw new MlxError('USAGE', `${path.join(dir, 'mlx.yaml')} already exists.`, { hint: 'use --force to overwrite it, or pick another folder.' })
    }
    const schema = path.relative(dir, path.join(CORE_DIR, 'schema', 'mlx.schema.json')).split(path.sep).join('/')
    const files = templateFiles(flags.kind as Kind, name, schema)
    const written: string[] = []
    for (const [rel, text] of Object.entries(files)) {
      const file = path.join(dir, rel)
      if (existsSync(file) && rel !== 'mlx.yaml') continue // never clobber the user's data or code
      await mkdir(path.dirname(file), { recursive: true })
      await writeFile(file, text)
      written.push(rel)
    }
    // The folder as the user typed it: a relative path climbing out of the cwd helps nobody.
    const shown = args.dir
    this.say(`✔ created ${flags.kind} project '${name}' in ${shown}: ${written.join(', ')}`)
    this.say(`Next: put your model at ${path.join(shown, 'model', 'model.onnx')}, then \`mlx validate ${shown}\` and \`mlx serve ${shown}\`.`)
    return { dir, name, kind: flags.kind, files: written }
  }
}
