// Starts a real cluster (Kafka, Redis, the services, nginx) on free ports for one test file.
import { after, before } from 'node:test'
import { startCluster, type Cluster, type ProfileName } from '../../tools/cluster/cluster.js'
import { CheckoutApi } from '../../tools/client/api.js'

export interface TestCluster {
  cluster: Cluster
  api: CheckoutApi
}

/** Registers before/after hooks; the returned object is filled once `before` ran. */
export function useCluster(profile: ProfileName = 'default'): TestCluster {
  const context = {} as TestCluster
  before(async () => {
    context.cluster = await startCluster({ profile, ports: 'free', log: (line) => process.env.TEST_VERBOSE && console.log(line) })
    context.api = new CheckoutApi(context.cluster.gatewayUrl)
  })
  after(async () => {
    context.api?.close()
    await context.cluster?.stop()
  })
  return context
}
