package kafka

import "github.com/twmb/franz-go/pkg/kgo"

// kafkajsRoundRobin is franz-go's round-robin assignment under the protocol name kafkajs uses
// ("RoundRobinAssigner", where Java and franz-go say "roundrobin"). Members of one Kafka group must
// share a protocol, so this lets Go and TypeScript workers compete in the same Thrun group.
func kafkajsRoundRobin() kgo.GroupBalancer { return roundRobinAssigner{kgo.RoundRobinBalancer()} }

type roundRobinAssigner struct{ kgo.GroupBalancer }

func (roundRobinAssigner) ProtocolName() string { return "RoundRobinAssigner" }
