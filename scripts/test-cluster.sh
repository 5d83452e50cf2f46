#!/usr/bin/env bash
# Thrun on real clusters with nodes killed under load (apps/cluster-tests): starts the clusters it needs
# on ports of their own, runs the suites, and stops what it started.
#
#   scripts/test-cluster.sh            # npm run test:cluster
#
# Redis Cluster (scripts/brokers/redis-cluster.sh, six servers): the conformance suite (Lists;
# THRUN_CLUSTER_REDIS_MODES=list,stream adds Streams), ledger runs (Lists with and without WAIT, Streams
# with WAIT; the queue's master SIGKILLed mid-run, then revived), and a 50-step batch across a failover. RabbitMQ
# (scripts/brokers/cluster/rabbitmq-cluster.sh, three nodes): the conformance suite on quorum queues
# and a ledger run with a node SIGKILLed and revived. Kafka (scripts/brokers/cluster/kafka-cluster.sh,
# three KRaft broker-controllers, replication factor 3, min.insync.replicas 2): the conformance suite
# and a ledger run with a partition leader SIGKILLed and revived.
#
# Environment: THRUN_CLUSTER_REDIS_PORTS (7201,…,7206: clear of the single-node defaults and of the
# cluster test-all.sh starts on 7001-7006); the RabbitMQ cluster's own (THRUN_RABBITMQ_CLUSTER_PORTS
# 5701-5703, …, see its script); THRUN_STATE_DIR; THRUN_CLUSTER_LEDGER_EVENTS (2,000 per ledger run by
# default; 20,000 for the full run).
set -euo pipefail
cd "$(dirname "$0")/.."

export THRUN_REDIS_CLUSTER_PORTS="${THRUN_CLUSTER_REDIS_PORTS:-7201,7202,7203,7204,7205,7206}"

stop_clusters() {
  bash scripts/brokers/redis-cluster.sh stop || true
  bash scripts/brokers/cluster/rabbitmq-cluster.sh stop || true
  bash scripts/brokers/cluster/kafka-cluster.sh stop || true
}
trap stop_clusters EXIT
# `out=$(…)` rather than `eval "$(…)"`, so that a cluster that does not start fails this script.
out=$(bash scripts/brokers/redis-cluster.sh start)
eval "$out"
# A RabbitMQ cluster whose first start fails (its logs are on stderr) gets one more on fresh data.
out=$(bash scripts/brokers/cluster/rabbitmq-cluster.sh start) || {
  echo "[test-cluster.sh] the RabbitMQ cluster did not start; once more on fresh data" >&2
  bash scripts/brokers/cluster/rabbitmq-cluster.sh reset
  out=$(bash scripts/brokers/cluster/rabbitmq-cluster.sh start)
}
eval "$out"
out=$(bash scripts/brokers/cluster/kafka-cluster.sh start)
eval "$out"

bash scripts/pnpm.sh --filter @thrun/cluster-tests... build
bash scripts/pnpm.sh --filter @thrun/cluster-tests test:cluster
