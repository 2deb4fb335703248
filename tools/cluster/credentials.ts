// Who may talk to Redis, Sentinel and Kafka in a profile whose processes talk over a network (hosts):
// passwords generated per cluster into the run folder (mode 0600, never committed, kept across restarts
// of the same folder), the Redis ACL rules each user gets, and how the launcher's own tools log in.
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SERVICE_ROLES, type ServiceRole } from './roles.js'

/**
 * What a service may do on its Redis: the data commands of its scripts and reads, the scripts
 * themselves, the durability WAIT, and what the client sends on connecting (INFO for its ready check,
 * CLIENT SETNAME), and what a hand-over of its master needs (platform/master-handover.ts: CLIENT PAUSE,
 * UNPAUSE, REPLICAOF). Other administrative commands (FLUSHALL, CONFIG, KEYS, ...) are @dangerous and refused.
 */
export const SERVICE_ACL =
  '~* resetchannels -@all +@read +@write -@dangerous +eval +evalsha +wait +info +ping +hello +client|setname +client|pause +client|unpause +replicaof'
/** The order service hands a checkout's outcome to the replica waiting for it (services/order/waiters.ts). */
export const ORDER_PUBSUB_ACL = '&checkout-outcomes:* +publish +subscribe +unsubscribe'
/** A replica syncing from its master (Redis's ACL documentation). */
export const REPLICATION_ACL = '-@all +psync +replconf +ping'
/** What Sentinel sends to the Redis servers it watches and fails over (Redis's ACL documentation). */
export const SENTINEL_ACL = 'allchannels -@all +multi +slaveof +replicaof +ping +exec +subscribe +config|rewrite +role +publish +info +client|setname +client|kill +script|kill'

export const KAFKA_SASL_MECHANISM = 'SCRAM-SHA-256'

export interface Login {
  username: string
  password: string
}

export interface Credentials {
  redis: {
    /** One user per service, on its own group's Redis only. */
    services: Record<ServiceRole, Login>
    replication: Login
    sentinel: Login
    /** The launcher's probes and the tests: every command. */
    admin: Login
  }
  /** Sentinel's requirepass: services, Sentinels among themselves, the launcher. */
  sentinelPassword: string
  kafka: {
    /** SCRAM users: one per service, the launcher's tools (admin), and the brokers among themselves. */
    services: Record<ServiceRole, Login>
    admin: Login
    broker: Login
    /** PLAIN on the controller listener. */
    controller: Login
  }
}

const secret = () => randomBytes(18).toString('base64url')
const login = (username: string): Login => ({ username, password: secret() })
const perService = () => Object.fromEntries(SERVICE_ROLES.map((role) => [role, login(role)])) as Record<ServiceRole, Login>

const credentialsFile = (runDir: string) => join(runDir, 'credentials.json')

/** The cluster's credentials: made on its first start, read back on a restart of the same run folder. */
export function clusterCredentials(runDir: string): Credentials {
  const path = credentialsFile(runDir)
  if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as Credentials
  const credentials: Credentials = {
    redis: { services: perService(), replication: login('replication'), sentinel: login('sentinel'), admin: login('admin') },
    sentinelPassword: secret(),
    kafka: { services: perService(), admin: login('admin'), broker: login('broker'), controller: login('controller') },
  }
  writeFileSync(path, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 })
  return credentials
}

/** The credentials of a running cluster's run folder, if it has any (tools: dlq, chaos, tests). */
export function readCredentials(runDir: string): Credentials | undefined {
  const path = credentialsFile(runDir)
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Credentials) : undefined
}

/** The SASL options of a Kafka client logging in as `user` (none on a cluster without credentials). */
export function kafkaSasl(user: Login | undefined): { sasl?: { mechanism: typeof KAFKA_SASL_MECHANISM; username: string; password: string } } {
  return user ? { sasl: { mechanism: KAFKA_SASL_MECHANISM, ...user } } : {}
}

/** The ACL lines of one group's Redis: only its service's user, replication, Sentinel and the launcher. */
export function redisAclLines(credentials: Credentials, group: ServiceRole): string[] {
  const { services, replication, sentinel, admin } = credentials.redis
  const service = services[group]
  const serviceAcl = group === 'order' ? `${SERVICE_ACL} ${ORDER_PUBSUB_ACL}` : SERVICE_ACL
  return [
    'user default off',
    `user ${service.username} on >${service.password} ${serviceAcl}`,
    `user ${replication.username} on >${replication.password} ${REPLICATION_ACL}`,
    `user ${sentinel.username} on >${sentinel.password} ${SENTINEL_ACL}`,
    `user ${admin.username} on >${admin.password} ~* &* +@all`,
    `masteruser ${replication.username}`,
    `masterauth ${replication.password}`,
  ]
}
