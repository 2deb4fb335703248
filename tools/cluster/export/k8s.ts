// deploy/k8s/: the ha profile on Kubernetes. Kafka, each Redis group and the Sentinels are StatefulSets
// whose pods are numbered from 1 like the launcher's processes (kafka-1, redis-order-1, sentinel-1), each
// reachable under that name through a Service of its own, so they share configurations and scripts with
// Compose; order, stock and payment are Deployments, found by the gateway through headless Services.
import { readFileSync } from 'node:fs'
import { stringify } from 'yaml'
import { inRepo } from '../paths.js'
import type { ServiceRole } from '../roles.js'
import { gatewayConf, generatedNote, sharedFiles } from './configs.js'
import { CONFIG_DIR, GATEWAY_DIR, SCRIPTS_DIR, SECRET_KEYS, SECRET_NAME, type Container, type Deployment } from './deployment.js'

export const K8S_FILES = [
  'deploy/k8s/kustomization.yaml',
  'deploy/k8s/namespace.yaml',
  'deploy/k8s/infrastructure.yaml',
  'deploy/k8s/services.yaml',
  'deploy/k8s/gateway.yaml',
  'deploy/k8s/secret.template.yaml',
] as const

/** The gateway resolves the services' names itself (nginx ignores search domains): they are written out whole. */
const NAMESPACE = 'checkout'
const CLUSTER_DOMAIN = 'cluster.local'
/** Two gateways behind the load balancer, each letting in half of the checkouts the topology allows. */
const GATEWAY_REPLICAS = 2
const SCRIPTS = ['kafka.sh', 'redis.sh', 'sentinel.sh']

type Manifest = Record<string, unknown>

const selectorOf = (component: string) => ({ 'app.kubernetes.io/name': component })
const labelsOf = (component: string) => ({ ...selectorOf(component), 'app.kubernetes.io/part-of': 'checkout-system' })
const metadata = (name: string, component = name) => ({ name, namespace: NAMESPACE, labels: labelsOf(component) })
const tcpPorts = (ports: Record<string, number>) => Object.entries(ports).map(([name, port]) => ({ name, port, targetPort: port }))

/** Spread a component's pods over the nodes when there are several. */
const spread = (component: string) => [
  { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selectorOf(component) } },
]

/** Voluntary evictions (node drains, upgrades) take one pod of a component at a time. */
const disruptionBudget = (component: string): Manifest => ({
  apiVersion: 'policy/v1',
  kind: 'PodDisruptionBudget',
  metadata: metadata(component),
  spec: { maxUnavailable: 1, selector: { matchLabels: selectorOf(component) } },
})

function env({ values, secrets }: Container['env'], fromPod: Record<string, string> = {}): Manifest[] {
  return [
    ...Object.entries(values).map(([name, value]) => ({ name, value })),
    ...Object.entries(fromPod).map(([name, fieldPath]) => ({ name, valueFrom: { fieldRef: { fieldPath } } })),
    ...Object.entries(secrets).map(([name, key]) => ({ name, valueFrom: { secretKeyRef: { name: SECRET_NAME, key } } })),
  ]
}

interface PodOptions {
  ports: Record<string, number>
  resources: { cpu: string; memory: string }
  mounts?: { name: string; mountPath: string; readOnly: boolean }[]
  fromPod?: Record<string, string>
}

function podContainer(name: string, container: Container, { ports, resources, mounts = [], fromPod }: PodOptions): Manifest {
  const { ready } = container
  const readinessProbe = 'httpGet' in ready ? { httpGet: { path: ready.httpGet, port: container.port } } : { exec: { command: ready.exec }, timeoutSeconds: 5 }
  return {
    name,
    image: container.image,
    command: container.command,
    env: env(container.env, fromPod),
    ports: Object.entries(ports).map(([portName, containerPort]) => ({ name: portName, containerPort })),
    readinessProbe: { ...readinessProbe, periodSeconds: 5 },
    resources: { requests: resources },
    ...(mounts.length > 0 ? { volumeMounts: mounts } : {}),
  }
}

interface StatefulOptions extends PodOptions {
  /** The container's name: what the pods run (kafka, redis, sentinel). */
  runs: string
  storage: string
  podSecurityContext?: Manifest
}

/** Pods `name-1` … `name-n` (the launcher's names), each with its data volume and a Service of its own name. */
function statefulSet(name: string, pods: string[], container: Container, options: StatefulOptions): Manifest[] {
  pods.forEach((pod, index) => {
    if (pod !== `${name}-${index + 1}`) throw new Error(`a StatefulSet ${name} names its pods ${name}-1..; the topology has ${pod}`)
  })
  // Published before they are ready: a Kafka node needs its peers' names to form the quorum that makes it ready.
  const service = (serviceName: string, selector: Record<string, string>): Manifest => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(serviceName, name),
    spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector, ports: tcpPorts(options.ports) },
  })
  const mounts = [
    { name: 'scripts', mountPath: SCRIPTS_DIR, readOnly: true },
    { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
    { name: 'data', mountPath: container.dataDir!, readOnly: false },
  ]
  return [
    service(name, selectorOf(name)),
    ...pods.map((pod) => service(pod, { 'statefulset.kubernetes.io/pod-name': pod })),
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: metadata(name),
      spec: {
        serviceName: name,
        replicas: pods.length,
        ordinals: { start: 1 },
        // All at once: a Kafka node, a Redis replica or a Sentinel waits for its peers to be ready.
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: selectorOf(name) },
        template: {
          metadata: { labels: labelsOf(name) },
          spec: {
            ...(options.podSecurityContext ? { securityContext: options.podSecurityContext } : {}),
            topologySpreadConstraints: spread(name),
            containers: [podContainer(options.runs, container, { ...options, mounts })],
            volumes: [
              { name: 'scripts', configMap: { name: 'checkout-scripts' } },
              { name: 'config', configMap: { name: 'checkout-config' } },
            ],
          },
        },
        volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: options.storage } } } }],
      },
    },
    disruptionBudget(name),
  ]
}

function infrastructure(deployment: Deployment): Manifest[] {
  const { kafka, redis, sentinel, containers } = deployment
  const configs = sharedFiles(deployment)
  const configMap = (name: string, data: Record<string, string>): Manifest => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: metadata(name, 'checkout-system'), data })
  return [
    configMap('checkout-scripts', Object.fromEntries(SCRIPTS.map((file) => [file, readFileSync(inRepo(`deploy/scripts/${file}`), 'utf8')]))),
    configMap('checkout-config', {
      'kafka.properties': configs['deploy/config/kafka.properties'],
      'redis.conf': configs['deploy/config/redis.conf'],
      'sentinel.conf': configs['deploy/config/sentinel.conf'],
    }),
    ...statefulSet('kafka', kafka.nodes, containers.kafka, {
      runs: 'kafka',
      ports: { broker: kafka.brokerPort, controller: kafka.controllerPort },
      resources: { cpu: '250m', memory: '768Mi' },
      storage: '10Gi',
      // The image runs Kafka as appuser (uid and gid 1000): the data volume must be its group's.
      podSecurityContext: { fsGroup: 1000 },
    }),
    ...redis.groups.flatMap(({ group, members }) =>
      statefulSet(`redis-${group}`, members, containers.redis(group), { runs: 'redis', ports: { redis: redis.port }, resources: { cpu: '100m', memory: '256Mi' }, storage: '5Gi' }),
    ),
    // Sentinels keep what they learn (who is master now) in their configuration file: it survives a restart.
    ...statefulSet('sentinel', sentinel.nodes, containers.sentinel, { runs: 'sentinel', ports: { sentinel: sentinel.port }, resources: { cpu: '20m', memory: '64Mi' }, storage: '1Gi' }),
  ]
}

function services({ services: roles, containers }: Deployment): Manifest[] {
  return roles.flatMap(({ role, port, instances }) => [
    // Headless: the gateway's resolver gets every ready replica's address and balances (and retries) over them.
    { apiVersion: 'v1', kind: 'Service', metadata: metadata(role), spec: { clusterIP: 'None', selector: selectorOf(role), ports: tcpPorts({ http: port }) } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: metadata(role),
      spec: {
        replicas: instances.length,
        selector: { matchLabels: selectorOf(role) },
        // A replica is added before one is taken away: the checkouts in flight per replica are bounded.
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          metadata: { labels: labelsOf(role) },
          spec: {
            // The image's user `node`, by number, so that Kubernetes can check it is not root.
            securityContext: { runAsNonRoot: true, runAsUser: 1000 },
            topologySpreadConstraints: spread(role),
            containers: [
              podContainer(role, containers.service(role), {
                ports: { http: port },
                resources: { cpu: '200m', memory: '256Mi' },
                // Each pod is a replica of its own (Kafka's static group membership, the sagas it waits for).
                fromPod: { INSTANCE_ID: 'metadata.name' },
              }),
            ],
          },
        },
      },
    },
    disruptionBudget(role),
  ])
}

function gateway(deployment: Deployment): Manifest[] {
  const { port, checkoutLimit } = deployment.gateway
  const serviceOf = (role: ServiceRole) => deployment.services.find((service) => service.role === role)!
  const nginxConf = gatewayConf(deployment, {
    resolver: `kube-dns.kube-system.svc.${CLUSTER_DOMAIN}`,
    servers: (role) => [`${role}.${NAMESPACE}.svc.${CLUSTER_DOMAIN}:${serviceOf(role).port}`],
    checkoutLimit: Math.ceil(checkoutLimit / GATEWAY_REPLICAS),
  })
  const { 'deploy/config/openapi.json': openapi } = sharedFiles(deployment)
  return [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: metadata('gateway'), data: { 'nginx.conf': nginxConf, 'openapi.json': openapi } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: metadata('gateway'),
      spec: {
        replicas: GATEWAY_REPLICAS,
        selector: { matchLabels: selectorOf('gateway') },
        template: {
          metadata: { labels: labelsOf('gateway') },
          spec: {
            topologySpreadConstraints: spread('gateway'),
            containers: [
              podContainer('gateway', deployment.containers.gateway, {
                ports: { http: port },
                resources: { cpu: '100m', memory: '64Mi' },
                mounts: [{ name: 'gateway', mountPath: GATEWAY_DIR, readOnly: true }],
              }),
            ],
            volumes: [{ name: 'gateway', configMap: { name: 'gateway' } }],
          },
        },
      },
    },
    // The system's entry point. Where the cluster has no load balancer, type NodePort serves as well.
    { apiVersion: 'v1', kind: 'Service', metadata: metadata('gateway'), spec: { type: 'LoadBalancer', selector: selectorOf('gateway'), ports: tcpPorts({ http: port }) } },
    disruptionBudget('gateway'),
  ]
}

const yamlDocuments = (manifests: Manifest[], preface = '') =>
  generatedNote('#') + preface + manifests.map((manifest) => stringify(manifest, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n')

export function k8sFiles(deployment: Deployment): Record<(typeof K8S_FILES)[number], string> {
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: metadata(SECRET_NAME, 'checkout-system'), type: 'Opaque', stringData: Object.fromEntries(SECRET_KEYS.map((key) => [key, 'FILL-IN'])) }
  return {
    'deploy/k8s/kustomization.yaml': yamlDocuments([
      {
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        namespace: NAMESPACE,
        // Not the Secret: it is made per cluster (deploy/README.md).
        resources: ['namespace.yaml', 'infrastructure.yaml', 'services.yaml', 'gateway.yaml'],
      },
    ]),
    'deploy/k8s/namespace.yaml': yamlDocuments([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE, labels: labelsOf('checkout-system') } }]),
    'deploy/k8s/infrastructure.yaml': yamlDocuments(infrastructure(deployment)),
    'deploy/k8s/services.yaml': yamlDocuments(services(deployment)),
    'deploy/k8s/gateway.yaml': yamlDocuments(gateway(deployment)),
    'deploy/k8s/secret.template.yaml': yamlDocuments(
      [secret],
      '# A template, not applied by kustomization.yaml: every value must be filled in per cluster (and the filled\n' +
        '# file never committed), or the Secret made from deploy/secrets.env instead (deploy/README.md).\n',
    ),
  }
}
