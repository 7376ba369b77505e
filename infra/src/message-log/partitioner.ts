/**
 * Kafka's murmur2 (the Java client's `Utils.murmur2`, which kafkajs's
 * `DefaultPartitioner` reproduces) over the UTF-8 bytes of `key`.
 */
export const murmur2 = (key: string): number => {
  const data = Buffer.from(key, 'utf8');
  const length = data.length;
  const m = 0x5bd1e995;
  let h = 0x9747b28c ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = length & ~3;
  switch (length & 3) {
    case 3:
      h ^= data[tail + 2]! << 16;
    // falls through
    case 2:
      h ^= data[tail + 1]! << 8;
    // falls through
    case 1:
      h ^= data[tail]!;
      h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
};

/** The partition of `key` in a topic of `partitions` partitions, as Kafka's default partitioner picks it. */
export const partitionFor = (key: string, partitions: number): number =>
  (murmur2(key) & 0x7fffffff) % partitions;
