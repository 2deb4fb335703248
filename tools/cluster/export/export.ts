// `npm run -s cluster -- export compose|k8s`: writes the deployment manifests of the ha profile into
// deploy/ (deploy/README.md says how to use them). export.test.ts keeps the committed files equal to
// what this generates.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { inRepo } from '../paths.js'
import { composeFiles } from './compose.js'
import { sharedFiles } from './configs.js'
import { haDeployment } from './deployment.js'
import { k8sFiles } from './k8s.js'

export const EXPORT_TARGETS = ['compose', 'k8s'] as const
export type ExportTarget = (typeof EXPORT_TARGETS)[number]

/** Every file a target writes (path from the repository's root → content); both write the shared configurations. */
export async function exportedFiles(target: ExportTarget): Promise<Record<string, string>> {
  const deployment = await haDeployment()
  return { ...sharedFiles(deployment), ...(target === 'compose' ? composeFiles(deployment) : k8sFiles(deployment)) }
}

export async function exportDeployment(target: string | undefined): Promise<void> {
  if (!EXPORT_TARGETS.includes(target as ExportTarget)) {
    process.stderr.write(`export what? ${EXPORT_TARGETS.join(' or ')} (got ${target ?? 'nothing'})\n`)
    process.exitCode = 1
    return
  }
  const files = await exportedFiles(target as ExportTarget)
  for (const [path, content] of Object.entries(files)) {
    const file = inRepo(path)
    const changed = !existsSync(file) || readFileSync(file, 'utf8') !== content
    if (changed) {
      mkdirSync(dirname(file), { recursive: true })
      writeFileSync(file, content)
    }
    console.log(`${changed ? 'wrote    ' : 'unchanged'} ${path}`)
  }
}
