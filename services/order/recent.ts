/**
 * Sets `key` as the most recent entry of a Map, dropping the least recent beyond `limit`: a Map keeps
 * insertion order, so its first key is the one untouched longest. Bounds the order replica's in-memory
 * views of the sagas it drives.
 */
export function setRecent<K, V>(map: Map<K, V>, key: K, value: V, limit: number): void {
  map.delete(key)
  map.set(key, value)
  if (map.size > limit) map.delete(map.keys().next().value!)
}
