// A Kafka broker cut off from the controller (a partition) is fenced without knowing it, and keeps
// answering metadata as of the cut: itself still the leader of the partitions that moved away, under
// their old leader epochs. A client asks its first reachable bootstrap broker for metadata, so one
// whose first broker is that one fetches those partitions from it, empty and without an error, for as
// long as the cut lasts (a hosts chaos run's one-way cut: a stock replica held a partition 10 s and
// consumed nothing). The witness asks every broker for a topic's leaders and says whose answer is behind;
// before a join, also which brokers answer at all (reachableFirst).
import { Admin } from '@platformatic/kafka'
import type { KafkaConfig } from './config.js'
import { within } from './consumer-session.js'

/** A broker that has not answered by then is down or cut off: not a witness this time. */
const ANSWER_LIMIT_MS = 1500
/** A broker's answer must be behind this many surveys in a row: a leader change reaches brokers a moment apart. */
const STALE_SURVEYS = 2
/** A partition that delivered nothing this long may be fetched from a stale leader: worth a survey. */
const QUIET_MS = 2000
/** At most one survey this often. */
const SURVEY_INTERVAL_MS = 2000

interface Testimony {
  broker: string
  /** Some partition's leader epoch in its answer is older than another broker's. */
  stale: boolean
}

export class MetadataWitness {
  readonly #admins = new Map<string, Admin>()
  readonly #heardAt = new Map<number, number>()
  #staleSurveys = 0
  #surveyedAt = 0

  constructor(config: KafkaConfig, clientId: string) {
    for (const broker of config.brokers) {
      const admin = new Admin({
        clientId: `${clientId}-witness`,
        bootstrapBrokers: [broker],
        retries: 0,
        timeout: ANSWER_LIMIT_MS,
        connectTimeout: ANSWER_LIMIT_MS,
        ...(config.sasl ? { sasl: config.sasl } : {}),
      })
      this.#admins.set(broker, admin)
    }
  }

  /** A batch of records just came in. */
  heard(batch: readonly { partition: number }[]): void {
    const now = Date.now()
    for (const { partition } of batch) this.#heardAt.set(partition, now)
  }

  /**
   * Whether a survey is due: none in the last SURVEY_INTERVAL_MS, and one of `partitions` has delivered
   * nothing for a while (counting from `since`, the session's start). Under load every partition
   * delivers: no survey is made, and none costs a checkout anything.
   */
  due(partitions: number[], since: number): boolean {
    const now = Date.now()
    if (now - this.#surveyedAt < SURVEY_INTERVAL_MS) return false
    if (!partitions.some((partition) => now - Math.max(this.#heardAt.get(partition) ?? 0, since) >= QUIET_MS)) return false
    this.#surveyedAt = now
    return true
  }

  /**
   * The brokers of `order` that answered in time, in that order, each with whether its leaders of `topic`
   * are stale. With `untilMajority`, the survey ends as soon as most brokers gave the same answer: one
   * that is silent (cut off) would hold it for ANSWER_LIMIT_MS, and goes unheard.
   */
  async #survey(topic: string, order: string[], untilMajority = false): Promise<Testimony[]> {
    const answers = new Map<string, number[]>()
    await new Promise<void>((done) => {
      let settled = 0
      for (const broker of order) {
        void this.#epochs(broker, topic).then((epochs) => {
          settled++
          if (epochs) answers.set(broker, epochs)
          if (settled === order.length || (untilMajority && agreeingMajority([...answers.values()], order.length))) done()
        })
      }
    })
    const heard = order.flatMap((broker) => (answers.has(broker) ? [{ broker, epochs: answers.get(broker)! }] : []))
    const newest = (partition: number) => Math.max(...heard.map(({ epochs }) => epochs[partition] ?? -1))
    return heard.map(({ broker, epochs }) => ({ broker, stale: epochs.some((epoch, partition) => epoch < newest(partition)) }))
  }

  /**
   * `order` with the brokers that answer current leaders of `topic` now first, the others (silent, or
   * stale) after: a consumer about to join asks its first reachable broker for everything (the group's
   * coordinator, metadata), and a silent one first cost a connection timeout each time, past the join's
   * limit (a hosts chaos run: four replicas' joins failed after 8 s, one after the other, on the cut host).
   */
  async reachableFirst(topic: string, order: string[]): Promise<string[]> {
    const current = (await this.#survey(topic, order, true)).filter((t) => !t.stale).map((t) => t.broker)
    return [...current, ...order.filter((broker) => !current.includes(broker))]
  }

  /**
   * Of a client whose bootstrap list is `order`: the broker it should ask instead, when the one it asks
   * (the first it can reach: the first that answered) has answered stale leaders of `topic` twice in a
   * row and another answers current ones; otherwise undefined.
   */
  async betterBroker(topic: string, order: string[]): Promise<string | undefined> {
    const testimonies = await this.#survey(topic, order)
    const current = testimonies.find((testimony) => !testimony.stale)
    this.#staleSurveys = testimonies[0]?.stale && current ? this.#staleSurveys + 1 : 0
    if (this.#staleSurveys < STALE_SURVEYS) return undefined
    this.#staleSurveys = 0
    return current!.broker
  }

  async close(): Promise<void> {
    await Promise.all([...this.#admins.values()].map((admin) => within(admin.close(), ANSWER_LIMIT_MS).catch(() => undefined)))
  }

  /** The leader epoch of each partition of `topic` in `broker`'s own answer, or undefined without one (always settles). */
  async #epochs(broker: string, topic: string): Promise<number[] | undefined> {
    const admin = this.#admins.get(broker)!
    // Without the brokers it learnt from an earlier answer, the client can only ask this one.
    admin.clearMetadata()
    const metadata = await within(admin.metadata({ topics: [topic], forceUpdate: true }), ANSWER_LIMIT_MS).catch(() => undefined)
    return metadata?.topics.get(topic)?.partitions.map((partition) => partition.leaderEpoch)
  }
}

/** More than half of `total` brokers answered, all alike. */
function agreeingMajority(answers: number[][], total: number): boolean {
  const alike = (epochs: number[]) => epochs.length === answers[0]!.length && epochs.every((epoch, i) => epoch === answers[0]![i])
  return answers.length > total / 2 && answers.every(alike)
}
