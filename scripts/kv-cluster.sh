#!/usr/bin/env bash
# Starts, stops or shows N (default 3) key-value server processes on 127.0.0.1, data in $KV_DATA (default
# /tmp/raft-kv-cluster). Node i listens for HTTP on 127.0.0.1:$((KV_HTTP_BASE + i)) (default 8100 + i) and for Raft on
# $((KV_RAFT_BASE + i)) (7100 + i).
#   scripts/kv-cluster.sh start [N]     builds once, starts the nodes in the background, waits until every node is healthy
#   scripts/kv-cluster.sh start-node I  starts node I alone when it is down (after /admin/kill or /admin/reset)
#   scripts/kv-cluster.sh join-node I   starts a new node I (beyond the N started), which joins once added to the members
#   scripts/kv-cluster.sh status        each node's pid and /health
#   scripts/kv-cluster.sh stop          SIGTERM (leaderships handed off first), then waits for the processes to exit
# Every node gets the admin token $KV_CHAOS_TOKEN (Kv:Chaos:Token; generated and printed when unset, kept in
# $KV_DATA/chaos-token): membership changes (POST/DELETE /cluster/members) need it. The chaos admin endpoints
# (/admin/...) are on for this local demo, behind the same token; KV_CHAOS=0 turns them off (the token stays).
# (The logic: scripts/server-cluster.sh.)
SERVER_PROJECT=examples/Raft.KeyValue.Server
SERVER_SECTION=Kv
SERVER_DATA="${KV_DATA:-/tmp/raft-kv-cluster}"
SERVER_HTTP_BASE="${KV_HTTP_BASE:-8100}"
SERVER_RAFT_BASE="${KV_RAFT_BASE:-7100}"
SERVER_CHAOS="${KV_CHAOS:-1}"
SERVER_CHAOS_TOKEN="${KV_CHAOS_TOKEN:-}"
source "$(dirname "$0")/server-cluster.sh" "$@"
