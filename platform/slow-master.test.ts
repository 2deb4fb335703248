import assert from 'node:assert/strict'
import { test } from 'node:test'
import { masterIsSlow, type Sample } from './slow-master.js'

const fast: Sample[] = [0.4, 0.6, 1, 0.5, 0.7, 0.9]
// Round trips measured from host-1 to a master on a host whose link was at 1 Mbit/s with 5 % loss.
const behindSlowLink: Sample[] = [5, 96, 70, 808, 694, 729]

test('a master far slower than every replica is slow', () => {
  assert.equal(masterIsSlow(behindSlowLink, [fast, fast]), true)
  assert.equal(masterIsSlow([24, 61, 108, 53, 50, 118], [fast, fast]), true)
})

test('a burst of slow answers is not a slow master', () => {
  // A master on a healthy host, just after another host's link healed.
  assert.equal(masterIsSlow([692, 291, 57, 2, 1, 1], [fast, fast]), false)
  assert.equal(masterIsSlow([0, 4, 243, 70, 0, 94], [fast, fast]), false)
})

test('a master slow only as slow as its replicas is not: the link is this replica’s own, or its process is late', () => {
  // From the slow host itself: the other hosts' replica is as slow as the master (the local one is fast).
  assert.equal(masterIsSlow(behindSlowLink, [fast, [300, 420, 90, 700, 150, 260]]), false)
  // This process's timers late by ~56 ms: every round trip grows alike.
  assert.equal(masterIsSlow([57, 56, 58, 60, 56, 57], [[56, 57, 56, 58, 56, 57], [56, 56, 57, 57, 58, 56]]), false)
})

test('a master under 50 ms is not slow, however fast its replicas', () => {
  assert.equal(masterIsSlow([30, 40, 35, 45, 38, 41], [fast, fast]), false)
})

test('a PING not answered is no evidence of a slow master: a master cut off is Sentinel’s to fail over', () => {
  assert.equal(masterIsSlow([undefined, undefined, 900, undefined, undefined, 800], [fast, fast]), false)
  assert.equal(masterIsSlow([undefined, 900, 700, 650, 800, 2], [fast, fast]), true)
  // A cut healed: the PINGs that waited through it are answered at once, late. Measured in a chaos run
  // (three PINGs at a time on the connection then): three masters handed over for nothing.
  assert.equal(masterIsSlow([undefined, undefined, undefined, 2501, 2001, 1502], [fast, fast]), false)
  assert.equal(masterIsSlow([undefined, undefined, undefined, 2900, 1, 1], [fast, fast]), false)
})

test('no verdict before a full window of samples, nor with a replica that did not answer every PING', () => {
  assert.equal(masterIsSlow(behindSlowLink.slice(1), [fast, fast]), false)
  assert.equal(masterIsSlow(behindSlowLink, [fast, fast.slice(1)]), false)
  assert.equal(masterIsSlow(behindSlowLink, [fast, [0.4, 0.5, undefined, 0.5, 0.6, 0.4]]), false)
  assert.equal(masterIsSlow(behindSlowLink, []), false)
})
