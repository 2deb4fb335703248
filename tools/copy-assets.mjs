// Copies the Lua scripts next to the compiled JavaScript, so stores load them relative to themselves.
import { cpSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function copyLua(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) copyLua(path)
    else if (name.endsWith('.lua')) cpSync(path, join('dist', path))
  }
}
copyLua('platform')
copyLua('participant')
copyLua('services')
