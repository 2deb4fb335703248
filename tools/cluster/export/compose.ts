// deploy/docker-compose.yml: the ha profile on one Docker host (or a few, with a swarm), each process a
// container named as the launcher names it. Credentials come from deploy/secrets.env (not committed)
// through Compose's interpolation; `--profile observe` adds Prometheus and Grafana.
import { stringify } from 'yaml'
import { gatewayConf, generatedNote, GRAFANA_PASSWORD } from './configs.js'
import { CONFIG_DIR, GATEWAY_DIR, IMAGES, SCRIPTS_DIR, type Container, type Deployment } from './deployment.js'

export const COMPOSE_FILES = ['deploy/docker-compose.yml', 'deploy/compose/nginx.conf', 'deploy/compose/prometheus.yml'] as const

/** Docker's embedded DNS, which knows every container of the project by name. */
const DOCKER_DNS = '127.0.0.11'

type Service = Record<string, unknown>

/** `$` is Compose's interpolation: a literal one is `$$`. */
const literal = (text: string) => text.replaceAll('$', () => '$$')

/** A variable from deploy/secrets.env; Compose stops, naming it, when it is missing or empty. */
const fromSecrets = (key: string) => `\${${key}:?set ${key} in deploy/secrets.env}`

function containerService(name: string, container: Container, extra: Service = {}): Service {
  const { values, secrets } = container.env
  const environment = {
    ...Object.fromEntries(Object.entries(values).map(([variable, value]) => [variable, literal(value)])),
    ...Object.fromEntries(Object.entries(secrets).map(([variable, key]) => [variable, fromSecrets(key)])),
  }
  return {
    image: container.image,
    hostname: name,
    command: container.command.map(literal),
    ...(Object.keys(environment).length > 0 ? { environment } : {}),
    ...extra,
    healthcheck: { test: ['CMD', ...container.ready.exec.map(literal)], interval: '5s', timeout: '5s', retries: 6, start_period: '120s' },
    restart: 'unless-stopped',
  }
}

/** An infrastructure process: its scripts and generated configuration mounted, its data in a volume. */
function infrastructureService(name: string, container: Container, extra: Service = {}): Service {
  const volumes = [`./scripts:${SCRIPTS_DIR}:ro`, `./config:${CONFIG_DIR}:ro`, ...(container.dataDir ? [`${name}:${container.dataDir}`] : [])]
  return containerService(name, container, { volumes, ...extra })
}

/** A port on the Docker host (the long syntax: "8000:8000" reads as a number in base 60 to YAML 1.1 parsers). */
const published = (port: number) => ({ target: port, published: String(port), protocol: 'tcp' })

const healthy = (names: string[]) => Object.fromEntries(names.map((name) => [name, { condition: 'service_healthy' }]))

function composeFile(deployment: Deployment): string {
  const { kafka, redis, sentinel, services, gateway, containers } = deployment
  const replicas = services.flatMap(({ role, instances }) => instances.map((instance) => ({ role, instance })))
  const redisMembers = redis.groups.flatMap(({ group, members }) => members.map((name) => ({ group, name })))
  const composeServices: Record<string, Service> = {}
  for (const { group, name } of redisMembers) composeServices[name] = infrastructureService(name, containers.redis(group))
  for (const name of sentinel.nodes) {
    composeServices[name] = infrastructureService(name, containers.sentinel, { depends_on: redisMembers.map((member) => member.name) })
  }
  // Kafka's scripts end in the broker's JVM, which stops cleanly given time.
  for (const name of kafka.nodes) composeServices[name] = infrastructureService(name, containers.kafka, { stop_grace_period: '20s' })
  for (const { role, instance } of replicas) {
    composeServices[instance] = containerService(instance, containers.service(role, instance), {
      // One image for the three services, from the repository's Dockerfile.
      build: { context: '..', dockerfile: 'Dockerfile' },
      depends_on: healthy([...kafka.nodes, ...sentinel.nodes]),
    })
  }
  composeServices.gateway = containerService('gateway', containers.gateway, {
    ports: [published(gateway.port)],
    volumes: [`./compose/nginx.conf:${GATEWAY_DIR}/nginx.conf:ro`, `./config/openapi.json:${GATEWAY_DIR}/openapi.json:ro`],
    // nginx holds many client connections at once: each is a file descriptor.
    ulimits: { nofile: 65536 },
    depends_on: healthy(replicas.map(({ instance }) => instance)),
  })
  composeServices.prometheus = {
    image: IMAGES.prometheus,
    profiles: ['observe'],
    ports: [published(9090)],
    volumes: ['./compose/prometheus.yml:/etc/prometheus/prometheus.yml:ro', './prometheus:/etc/prometheus/rules:ro', 'prometheus:/prometheus'],
    restart: 'unless-stopped',
  }
  composeServices.grafana = {
    image: IMAGES.grafana,
    profiles: ['observe'],
    ports: [published(3000)],
    environment: { GF_SECURITY_ADMIN_PASSWORD: fromSecrets(GRAFANA_PASSWORD) },
    volumes: ['./grafana/provisioning:/etc/grafana/provisioning:ro', './grafana/checkout-system.json:/etc/grafana/dashboards/checkout-system.json:ro', 'grafana:/var/lib/grafana'],
    depends_on: ['prometheus'],
    restart: 'unless-stopped',
  }
  const volumes = Object.fromEntries(
    [...redisMembers.map((member) => member.name), ...sentinel.nodes, ...kafka.nodes, 'prometheus', 'grafana'].map((name) => [name, {}]),
  )
  const document = { name: 'checkout', services: composeServices, volumes }
  const usage = '# Usage: deploy/README.md (docker compose --env-file deploy/secrets.env -f deploy/docker-compose.yml up -d).\n'
  return generatedNote('#') + usage + stringify(document, { lineWidth: 0, aliasDuplicateObjects: false })
}

/** Every replica of the services, scraped by Prometheus under the names the launcher gives them. */
function prometheusConfig({ services }: Deployment): string {
  const config = {
    global: { scrape_interval: '5s', evaluation_interval: '5s' },
    rule_files: ['/etc/prometheus/rules/*.yml'],
    scrape_configs: [
      {
        job_name: 'services',
        static_configs: services.flatMap(({ role, port, instances }) => instances.map((name) => ({ targets: [`${name}:${port}`], labels: { name, role } }))),
      },
      { job_name: 'prometheus', static_configs: [{ targets: ['localhost:9090'], labels: { name: 'prometheus' } }] },
    ],
  }
  return generatedNote('#') + stringify(config, { lineWidth: 0, aliasDuplicateObjects: false })
}

export function composeFiles(deployment: Deployment): Record<(typeof COMPOSE_FILES)[number], string> {
  const instancesOf = (role: string) => deployment.services.find((service) => service.role === role)!
  return {
    'deploy/docker-compose.yml': composeFile(deployment),
    'deploy/compose/nginx.conf': gatewayConf(deployment, {
      resolver: DOCKER_DNS,
      servers: (role) => instancesOf(role).instances.map((instance) => `${instance}:${instancesOf(role).port}`),
      checkoutLimit: deployment.gateway.checkoutLimit,
    }),
    'deploy/compose/prometheus.yml': prometheusConfig(deployment),
  }
}
