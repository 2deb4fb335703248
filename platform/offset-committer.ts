// Commits the offsets of handled messages for one consumer session (see idempotent-consumer.ts).
import { setTimeout as sleep } from 'node:timers/promises'
import type { StringConsumer } from './kafka.js'
import type { Logger } from './logger.js'
import { metrics } from './metrics.js'

const COMMIT_INTERVAL_MS = 200

/** Where a handled message was read: its offset + 1 is what the group commits. */
export interface ReadPosition {
  topic: string
  partition: number
  offset: bigint
}

/**
 * Offsets whose messages are fully handled, committed in one request for all partitions, at most one
 * request in flight and one per COMMIT_INTERVAL_MS: under load commits coalesce instead of queueing.
 */
export class OffsetCommitter {
  readonly #done = new Map<string, ReadPosition>()
  #committing: Promise<void> | undefined

  constructor(
    private readonly consumer: StringConsumer,
    private readonly logger: Logger,
  ) {
    // What waited out a join goes once it is done.
    consumer.on('consumer:group:join', () => this.#commitSoon())
  }

  markDone(records: readonly ReadPosition[]): void {
    for (const { topic, partition, offset } of records) {
      const key = `${topic}:${partition}`
      const known = this.#done.get(key)
      if (!known || known.offset < offset + 1n) this.#done.set(key, { topic, partition, offset: offset + 1n })
    }
    this.#commitSoon()
  }

  async flush(): Promise<void> {
    this.#commitSoon()
    while (this.#committing) await this.#committing
  }

  #commitSoon(): void {
    if (!this.#committing && this.#done.size > 0) this.#committing = this.#commitPending()
  }

  async #commitPending(): Promise<void> {
    while (this.#done.size > 0) {
      // Each commit is a replicated write on the broker: a few per second are plenty, since a crash
      // only redelivers what was handled since the last one, and redelivery is harmless.
      await sleep(COMMIT_INTERVAL_MS)
      // A member (re)joining its group has nothing to commit for yet (isActive() is false then, and
      // also once the client cleared its member id: the coordinator forgot it). The client would send
      // the commit all the same; the broker fails one sent mid-join (REBALANCE_IN_PROGRESS), and the
      // client answers that failure with a JoinGroup of its own, which reached the coordinator just
      // after the round had completed and started the next: a group leader whose assignment waited on
      // a slow metadata fetch did that every round, a rebalance a second for 6 s (the consumer library's
      // own autocommit skips its ticks mid-join for that reason). One with no member id at all the broker
      // answers by closing the connection, failing the rejoin under way on it. The offsets wait for
      // the next commit, after the join.
      if (!this.consumer.isActive()) break
      // leaderEpoch -1: "unknown", which the broker accepts for a commit.
      const offsets = [...this.#done.values()].map((o) => ({ ...o, leaderEpoch: -1 }))
      this.#done.clear()
      try {
        await this.consumer.commit({ offsets })
      } catch (err) {
        // Lost to a rebalance or a broker failover: only means a redelivery, which the handlers absorb.
        metrics.kafkaErrors.inc({ operation: 'commit' })
        this.logger.warn({ err: (err as Error).message }, 'offset commit failed')
      }
    }
    this.#committing = undefined
  }
}
