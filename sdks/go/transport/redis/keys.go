package redis

// The key layout (protocol/redis.md). A queue's own key is <prefix><queue>, exactly the list (or
// stream) a plain producer writes; every key Thrun adds beside it starts with that name in braces, a
// Redis Cluster hash tag, so a script's keys share one slot.
//
//	Lists mode                                  Streams mode
//	  <q>                      waiting (list)     <q>                          the stream
//	  {<q>}:processing:<id>    taken by consumer  {<q>}:retry:<group>          parked retries (zset id → due)
//	  {<q>}:landing:<id>       BLMOVE's target
//	  {<q>}:consumers          leases (zset)      {<q>}:delayed                delayed publishes (zset)
//	  {<q>}:attempts           sha1(body) → n
//	  {<q>}:delayed            delayed (zset)
//	  <q>.dead                 dead letters (list, or a stream in Streams mode)
type queueKeys struct {
	queue, processingPrefix, landingPrefix, consumers, attempts, delayed, dead, tag string
}

func keysOf(prefix, queue string) queueKeys {
	name := prefix + queue
	tag := "{" + name + "}"
	return queueKeys{
		queue:            name,
		tag:              tag,
		processingPrefix: tag + ":processing:",
		landingPrefix:    tag + ":landing:",
		consumers:        tag + ":consumers",
		attempts:         tag + ":attempts",
		delayed:          tag + ":delayed",
		dead:             prefix + queue + ".dead",
	}
}

func (k queueKeys) processing(consumerID string) string { return k.processingPrefix + consumerID }
func (k queueKeys) landing(consumerID string) string    { return k.landingPrefix + consumerID }
func (k queueKeys) retry(group string) string           { return k.tag + ":retry:" + group }
