/**
 * The key layout. A queue's own key is `<keyPrefix><queue>`, exactly the list (or stream) a foreign
 * producer writes: `events` for a Go service's `LPUSH`. Every key Thrun adds beside it starts with that
 * name in braces, `{<keyPrefix><queue>}:…`: a Redis Cluster hash tag, and since a key without braces
 * hashes its whole name, the braced keys share the queue key's slot, so every script's keys live on one
 * node.
 *
 * Lists mode                                  Streams mode
 *   <q>                      waiting (list)     <q>                          the stream
 *   {<q>}:processing:<id>    taken by consumer  {<q>}:retry:<group>          parked retries (zset id → due)
 *   {<q>}:landing:<id>       BLMOVE's target
 *   {<q>}:consumers          leases (zset)      {<q>}:delayed                delayed publishes (zset)
 *   {<q>}:attempts           sha1(body) → n
 *   {<q>}:delayed            delayed (zset)
 *   <q>.dead                 dead letters (list, or a stream in Streams mode): a queue like any other
 */
export interface QueueKeys {
  queue: string;
  processingPrefix: string;
  landingPrefix: string;
  consumers: string;
  attempts: string;
  delayed: string;
  dead: string;
  retry(group: string): string;
  processing(consumerId: string): string;
  landing(consumerId: string): string;
}

export function queueKeys(keyPrefix: string, queue: string): QueueKeys {
  const name = `${keyPrefix}${queue}`;
  const tag = `{${name}}`;
  const processingPrefix = `${tag}:processing:`;
  const landingPrefix = `${tag}:landing:`;
  return {
    queue: name,
    processingPrefix,
    landingPrefix,
    consumers: `${tag}:consumers`,
    attempts: `${tag}:attempts`,
    delayed: `${tag}:delayed`,
    dead: `${keyPrefix}${queue}.dead`,
    retry: (group) => `${tag}:retry:${group}`,
    processing: (consumerId) => `${processingPrefix}${consumerId}`,
    landing: (consumerId) => `${landingPrefix}${consumerId}`,
  };
}
