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
  ) {}

  markDone(records: readonly ReadPosition[]): void {
    for (const { topic, partition, offset } of records) {
      const key = `${topic}:${partition}`
      const known = this.#done.get(key)
      if (!known || known.offset < offset + 1n) this.#done.set(key, { topic, partition, offset: offset + 1n })
    }
    if (!this.#committing) this.#committing = this.#commitPending()
  }

  async flush(): Promise<void> {
    while (this.#committing) await this.#committing
  }

  async #commitPending(): Promise<void> {
    while (this.#done.size > 0) {
      // Each commit is a replicated write on the broker: a few per second are plenty, since a crash
      // only redelivers what was handled since the last one, and redelivery is harmless.
      await sleep(COMMIT_INTERVAL_MS)
      // leaderEpoch -1: "unknown", which the broker accepts for a commit.
      const offsets = [...this.#done.values()].map((o) => ({ ...o, leaderEpoch: -1 }))
      this.#done.clear()
      // A member that lost its place in the group (the client clears its id when the coordinator no
      // longer knows it) has nothing to commit for: the client would still send the commit, with a null
      // member id, and the broker answers that malformed request by closing the connection, failing the
      // rejoin under way on it (a partition's stall grew by seconds, once per commit). Redelivery of
      // those messages is harmless.
      if (this.consumer.memberId === null) continue
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
