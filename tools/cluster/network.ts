// Separate network hosts on one machine (the hosts profile): each host is a Linux network namespace
// with one address on a private subnet, joined by a bridge in the root namespace, where the gateway
// runs like a load balancer in front of the cluster. No route leaves the subnet. Faults on the network
// are the kernel's own: nftables drop rules inside a host's namespace cut links (a partition) or lose a
// share of its packets; tc (netem where the kernel has it, else tbf) on both ends of its link slows it.
// Needs root (CAP_NET_ADMIN).
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'

export interface NetworkHost {
  name: string
  address: string
  /** The network namespace; processes on the host run in it (`ip netns exec`). */
  netns: string
  /** The root namespace's end of the host's link (a veth on the bridge). */
  link: string
}

export interface HostNetwork {
  bridge: string
  /** The root namespace's address on the subnet: where the hosts reach the gateway. */
  gatewayAddress: string
  hosts: NetworkHost[]
}

/** Where a process runs: a host of the hosts profile, or the machine itself. */
export interface Placement {
  /** A host's name; `local` for the machine of a profile without hosts, `gateway` for the root namespace. */
  name: string
  /** The address it binds and is reached at. */
  address: string
  /** The host's network namespace; none for the root namespace. */
  netns?: string
}

/** The gateway's side, as a partition names it. */
export const GATEWAY_SIDE = 'gateway'
/** The gateway (and Prometheus) run in the root namespace; clients reach them at 127.0.0.1. */
export const GATEWAY_HOST: Placement = { name: GATEWAY_SIDE, address: '127.0.0.1' }
/** Every process of a profile without hosts: the machine's loopback. */
export const LOCAL: Placement = { name: 'local', address: '127.0.0.1' }

/** The nftables table that holds a host's cuts; deleting it heals the host. */
const CUT_TABLE = 'cluster_cuts'
/** Inside each namespace the host's end of its link has this name. */
const HOST_INTERFACE = 'eth0'

/** Runs a command (with `input` on its stdin), returning its output; a failure carries its stderr. */
function run(command: string, args: string[], input?: string): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] })
  } catch (error) {
    const { stderr } = error as { stderr?: string }
    throw new Error(`${command} ${args.join(' ')}: ${stderr?.trim() || (error as Error).message}`)
  }
}

/** Plans the network of `count` hosts: names and a /24 of 10.213.0.0/16 no interface of the machine uses. */
export function planHostNetwork(count: number): HostNetwork {
  const id = randomBytes(2).toString('hex') // interface names have at most 15 characters
  const used = run('ip', ['-4', '-o', 'addr', 'show'])
  let third = randomBytes(1)[0]!
  while (used.includes(`10.213.${third}.`)) third = (third + 1) % 256
  const prefix = `10.213.${third}`
  return {
    bridge: `chk${id}-br`,
    gatewayAddress: `${prefix}.1`,
    hosts: Array.from({ length: count }, (_, index) => ({
      name: `host-${index + 1}`,
      address: `${prefix}.${11 + index}`,
      netns: `chk${id}-host-${index + 1}`,
      link: `chk${id}-h${index + 1}`,
    })),
  }
}

export function createHostNetwork(network: HostNetwork): void {
  if (process.getuid?.() !== 0) throw new Error('the hosts profile makes network namespaces: run it as root')
  const { bridge, gatewayAddress, hosts } = network
  run('ip', ['link', 'add', bridge, 'type', 'bridge'])
  run('ip', ['addr', 'add', `${gatewayAddress}/24`, 'dev', bridge])
  run('ip', ['link', 'set', bridge, 'up'])
  for (const host of hosts) {
    run('ip', ['netns', 'add', host.netns])
    run('ip', ['link', 'add', host.link, 'type', 'veth', 'peer', 'name', HOST_INTERFACE, 'netns', host.netns])
    run('ip', ['link', 'set', host.link, 'master', bridge, 'up'])
    run('ip', ['-n', host.netns, 'addr', 'add', `${host.address}/24`, 'dev', HOST_INTERFACE])
    run('ip', ['-n', host.netns, 'link', 'set', HOST_INTERFACE, 'up'])
    run('ip', ['-n', host.netns, 'link', 'set', 'lo', 'up'])
  }
}

/** Removes the namespaces (their interfaces go with them) and the bridge; what is already gone is skipped. */
export function removeHostNetwork(network: HostNetwork): void {
  const namespaces = new Set(run('ip', ['netns', 'list']).split('\n').map((line) => line.split(' ')[0]))
  for (const host of network.hosts) {
    if (namespaces.has(host.netns)) run('ip', ['netns', 'del', host.netns])
  }
  if (run('ip', ['-o', 'link', 'show']).includes(` ${network.bridge}:`)) run('ip', ['link', 'del', network.bridge])
}

/** The command line that runs a program on a host (the same process: `ip netns exec` execs it). */
export function onHost(netns: string | undefined, command: string, args: string[]): { command: string; args: string[] } {
  return netns ? { command: 'ip', args: ['netns', 'exec', netns, command, ...args] } : { command, args }
}

/** The addresses of named sides: host names, or GATEWAY_SIDE for the root namespace. */
function addressesOf(network: HostNetwork, names: string[]): string[] {
  return names.map((name) => {
    if (name === GATEWAY_SIDE) return network.gatewayAddress
    const host = network.hosts.find((candidate) => candidate.name === name)
    if (!host) throw new Error(`no host named ${name}; known: ${[...network.hosts.map((h) => h.name), GATEWAY_SIDE].join(', ')}`)
    return host.address
  })
}

export interface Cut {
  /** Hosts (or GATEWAY_SIDE) on one side. */
  side: string[]
  /** The other side; by default every other host and the gateway. */
  from?: string[]
  /** Drop only what the first side sends to the other. */
  oneway?: boolean
}

/**
 * Cuts the links between two sides. The rules live in the namespaces of the hosts on either side (the
 * gateway's side is cut at the hosts' end) and drop packets silently, as a broken link does:
 * connections time out rather than being refused. Cuts add up until heal().
 */
export function cut(network: HostNetwork, { side, from, oneway = false }: Cut): void {
  const other = from ?? [...network.hosts.map((host) => host.name), GATEWAY_SIDE].filter((name) => !side.includes(name))
  if (other.some((name) => side.includes(name))) throw new Error('a host cannot be on both sides of a partition')
  const sideAddresses = addressesOf(network, side)
  const otherAddresses = addressesOf(network, other)
  const set = (addresses: string[]) => `{ ${addresses.join(', ')} }`
  for (const host of network.hosts) {
    const onSide = side.includes(host.name)
    if (!onSide && !other.includes(host.name)) continue
    // What the first side sends is dropped where it leaves and where it arrives; the reply way only when not one-way.
    const [sent, received] = onSide ? ['output ip daddr', 'input ip saddr'] : ['input ip saddr', 'output ip daddr']
    const peers = set(onSide ? otherAddresses : sideAddresses)
    const rules = [
      `add table inet ${CUT_TABLE}`,
      `add chain inet ${CUT_TABLE} input { type filter hook input priority -10; policy accept; }`,
      `add chain inet ${CUT_TABLE} output { type filter hook output priority -10; policy accept; }`,
      `add rule inet ${CUT_TABLE} ${sent} ${peers} drop`,
      ...(oneway ? [] : [`add rule inet ${CUT_TABLE} ${received} ${peers} drop`]),
    ]
    execNft(host.netns, rules.join('\n'))
  }
}

/** Applies an nftables script inside a host's namespace. */
function execNft(netns: string, script: string): void {
  run('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], script)
}

export interface LinkQuality {
  /** Added latency, e.g. '200ms' (tc netem: needs the kernel's sch_netem). */
  delay?: string
  jitter?: string
  /** Bandwidth, e.g. '1mbit' (tc tbf): a slow link, whose queue adds latency under load. */
  rate?: string
  /** Packets dropped at random, e.g. '5%' (nftables), each way. */
  loss?: string
}

/** The nftables table of a host's random losses; deleting it heals them. */
const LOSS_TABLE = 'cluster_loss'

/**
 * Makes a host's link slow and lossy, both ways: netem (delay) or tbf (rate) on each end of its veth,
 * and nftables dropping a share of the packets in and out of the host.
 */
export function degradeLink(network: HostNetwork, hostName: string, { delay, jitter, rate, loss }: LinkQuality): void {
  const host = network.hosts.find((candidate) => candidate.name === hostName)
  if (!host) throw new Error(`no host named ${hostName}; known: ${network.hosts.map((h) => h.name).join(', ')}`)
  if (!delay && !rate && !loss) throw new Error('a degraded link needs a delay, a rate or a loss')
  if (delay && rate) throw new Error('a delay (netem) and a rate (tbf) cannot be combined on one link')
  const qdisc = delay ? ['netem', 'delay', delay, ...(jitter ? [jitter] : [])] : rate ? ['tbf', 'rate', rate, 'burst', '32kbit', 'latency', '400ms'] : undefined
  if (qdisc) {
    try {
      run('ip', ['netns', 'exec', host.netns, 'tc', 'qdisc', 'replace', 'dev', HOST_INTERFACE, 'root', ...qdisc])
    } catch (error) {
      if (delay && /qdisc kind is unknown/.test((error as Error).message)) throw new Error(`this kernel has no netem (sch_netem), so no --delay; a slow link: --rate 1mbit`)
      throw error
    }
    run('tc', ['qdisc', 'replace', 'dev', host.link, 'root', ...qdisc])
  }
  if (loss) {
    const percent = Number(loss.replace('%', ''))
    if (!(percent > 0 && percent < 100)) throw new Error(`bad loss ${loss}: a percentage between 0 and 100`)
    const drop = `numgen random mod 1000 < ${Math.round(percent * 10)} drop`
    execNft(host.netns, [
      `add table inet ${LOSS_TABLE}`,
      `add chain inet ${LOSS_TABLE} input { type filter hook input priority -5; policy accept; }`,
      `add chain inet ${LOSS_TABLE} output { type filter hook output priority -5; policy accept; }`,
      `add rule inet ${LOSS_TABLE} input iifname ${HOST_INTERFACE} ${drop}`,
      `add rule inet ${LOSS_TABLE} output oifname ${HOST_INTERFACE} ${drop}`,
    ].join('\n'))
  }
}

/** Every cut and every degraded link undone. */
export function heal(network: HostNetwork): void {
  for (const host of network.hosts) {
    const tables = run('ip', ['netns', 'exec', host.netns, 'nft', 'list', 'tables'])
    for (const table of [CUT_TABLE, LOSS_TABLE]) {
      if (tables.includes(table)) run('ip', ['netns', 'exec', host.netns, 'nft', 'delete', 'table', 'inet', table])
    }
    const degraded = (qdiscs: string) => /\b(netem|tbf)\b/.test(qdiscs)
    if (degraded(run('ip', ['netns', 'exec', host.netns, 'tc', 'qdisc', 'show', 'dev', HOST_INTERFACE]))) {
      run('ip', ['netns', 'exec', host.netns, 'tc', 'qdisc', 'del', 'dev', HOST_INTERFACE, 'root'])
    }
    if (degraded(run('tc', ['qdisc', 'show', 'dev', host.link]))) run('tc', ['qdisc', 'del', 'dev', host.link, 'root'])
  }
}
