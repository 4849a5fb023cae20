#!/usr/bin/env bash
# Starts, stops or shows N (default 3) queue server processes on 127.0.0.1, data in $QUEUE_DATA (default
# /tmp/raft-queue-cluster). Node i listens for HTTP on 127.0.0.1:$((QUEUE_HTTP_BASE + i)) (default 8200 + i) and for
# Raft on $((QUEUE_RAFT_BASE + i)) (7200 + i). Each queue group snapshots every $QUEUE_SNAPSHOT_ENTRIES applied
# commands (default 500, keeping 100 behind), so a demo shows compaction.
#   scripts/queue-cluster.sh start [N] | start-node I | join-node I | status | stop     (see scripts/server-cluster.sh)
# Every node gets the admin token $QUEUE_CHAOS_TOKEN (Queue:Chaos:Token; generated when unset, kept in
# $QUEUE_DATA/chaos-token): membership changes (POST/DELETE /cluster/members) need it. QUEUE_CHAOS=1 turns the chaos
# admin endpoints (/admin/...) on, behind the same token.
SERVER_PROJECT=examples/Raft.Queue.Server
SERVER_SECTION=Queue
SERVER_DATA="${QUEUE_DATA:-/tmp/raft-queue-cluster}"
SERVER_HTTP_BASE="${QUEUE_HTTP_BASE:-8200}"
SERVER_RAFT_BASE="${QUEUE_RAFT_BASE:-7200}"
SERVER_CHAOS="${QUEUE_CHAOS:-0}"
SERVER_CHAOS_TOKEN="${QUEUE_CHAOS_TOKEN:-}"
SERVER_ARGS=("--Queue:Raft:SnapshotEntries=${QUEUE_SNAPSHOT_ENTRIES:-500}" "--Queue:Raft:CompactionTrailing=100")
source "$(dirname "$0")/server-cluster.sh" "$@"
