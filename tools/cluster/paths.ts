import { fileURLToPath } from 'node:url'

/** The repository root (this file runs from dist/tools/cluster/): children run from here. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))

export const inRepo = (relativePath: string): string => fileURLToPath(new URL(`../../../${relativePath}`, import.meta.url))
