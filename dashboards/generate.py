#!/usr/bin/env python3
"""Writes the Grafana dashboards of this directory from the panel lists below: `python3 dashboards/generate.py`.

Every query reads the Prometheus names of the `Raft` meter (OpenTelemetry exporter: dots become underscores,
counters end in `_total`, seconds histograms in `_seconds_bucket`). The observability test runs every panel's query
against a Prometheus that scraped a real cluster, so a renamed instrument fails it.
"""
import json
import pathlib

NODE = 'raft_node=~"$node"'


def rate(metric, by="raft_node", extra=""):
    sel = NODE + ("," + extra if extra else "")
    return f"sum by ({by}) (rate({metric}{{{sel}}}[$__rate_interval]))"


def quantile(q, metric):
    return f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket{{{NODE}}}[$__rate_interval])))"


def gauge(metric, agg="max", by="raft_node"):
    return f"{agg} by ({by}) ({metric}{{{NODE}}})"


# (title, description, unit, [(expr, legend)]) rows of panels; None starts a row whose title follows.
OVERVIEW = [
    ("row", "Leadership"),
    ("Groups led per node", "Groups each node leads now: across the cluster, one leader per group.", "short",
     [(gauge("raft_groups_leading", "sum"), "node {{raft_node}}")]),
    ("Groups with a known leader", "Groups whose leader this node knows; below the group count means elections are running.", "short",
     [(gauge("raft_groups_leader_known", "sum"), "node {{raft_node}}"), (gauge("raft_groups", "sum"), "groups on {{raft_node}}")]),
    ("Term", "Highest term over the node's groups: a climbing term means repeated elections.", "short",
     [(gauge("raft_term_max"), "node {{raft_node}}")]),
    ("Leader changes", "Role, term or leader changes per second.", "ops",
     [(rate("raft_leader_changes_total"), "node {{raft_node}}")]),
    ("Elections", "Campaigns started and won per second.", "ops",
     [(rate("raft_elections_started_total"), "started on {{raft_node}}"), (rate("raft_elections_won_total"), "won on {{raft_node}}")]),
    ("Votes cast", "Votes this node cast, granted or denied.", "ops",
     [(rate("raft_votes_total", "raft_node, result"), "{{result}} by {{raft_node}}")]),
    ("row", "Throughput"),
    ("Proposals", "Commands handed to the core and forwarded by followers, per second.", "ops",
     [(rate("raft_proposals_total"), "proposed on {{raft_node}}"), (rate("raft_proposals_forwarded_total"), "forwarded by {{raft_node}}")]),
    ("Log appends", "Entries written to each node's log per second (leader and followers).", "ops",
     [(rate("raft_log_entries_appended_total"), "node {{raft_node}}")]),
    ("Applied entries", "Entries applied to state machines per second.", "ops",
     [(rate("raft_entries_applied_total"), "node {{raft_node}}")]),
    ("Group-commit rounds", "Rounds per second; each makes the round's writes durable with one fdatasync per shared log.", "ops",
     [(rate("raft_group_commit_rounds_total"), "node {{raft_node}}")]),
    ("row", "Latency"),
    ("Proposal to commit p50 / p99", "From ProposeAsync to the entry reaching the state machine on the leader.", "s",
     [(quantile(0.5, "raft_proposal_commit_duration_seconds"), "p50"), (quantile(0.99, "raft_proposal_commit_duration_seconds"), "p99")]),
    ("Proposal to applied p50 / p99", "From ProposeAsync to the caller's result.", "s",
     [(quantile(0.5, "raft_proposal_apply_duration_seconds"), "p50"), (quantile(0.99, "raft_proposal_apply_duration_seconds"), "p99")]),
    ("Proposal to persisted p50 / p99", "From ProposeAsync to the entry durable in the leader's own log (its fsync).", "s",
     [(quantile(0.5, "raft_proposal_persist_duration_seconds"), "p50"), (quantile(0.99, "raft_proposal_persist_duration_seconds"), "p99")]),
    ("Group commit and fdatasync p99", "A whole group-commit round, and the shared log's fdatasync alone.", "s",
     [(quantile(0.99, "raft_group_commit_duration_seconds"), "round p99"), (quantile(0.99, "raft_log_sync_duration_seconds"), "fdatasync p99")]),
    ("row", "Transport"),
    ("Bytes sent and received", "Transport bytes per second, frame headers included.", "Bps",
     [(rate("raft_transport_bytes_sent_bytes_total"), "sent by {{raft_node}}"), (rate("raft_transport_bytes_received_bytes_total"), "received by {{raft_node}}")]),
    ("Transport errors", "Messages dropped, connections closed for bad frames, refused handshakes, reconnects.", "ops",
     [(rate("raft_transport_messages_dropped_total"), "dropped {{raft_node}}"), (rate("raft_transport_bad_frames_total"), "bad frames {{raft_node}}"),
      (rate("raft_transport_handshakes_refused_total"), "refused {{raft_node}}"), (rate("raft_transport_reconnects_total"), "reconnects {{raft_node}}")]),
    ("Peer round trip p99", "Per peer, heartbeat to its response: network, the peer's send queue and its loop.", "s",
     [("histogram_quantile(0.99, sum by (le, raft_node, raft_peer) (rate(raft_peer_round_trip_duration_seconds_bucket{" + NODE + "}[$__rate_interval])))",
       "{{raft_node}} -> {{raft_peer}}")]),
    ("Bytes per peer", "Transport bytes per second per peer, written (transmit) and read (receive).", "Bps",
     [(rate("raft_transport_peer_bytes_total", "raft_node, raft_peer, network_io_direction"), "{{raft_node}} {{network_io_direction}} {{raft_peer}}")]),
    ("Connections and send queues", "Open connections per node, and messages waiting in each peer's send queue.", "short",
     [(gauge("raft_transport_connections_open", "sum"), "open on {{raft_node}}"),
      (gauge("raft_transport_peer_queue_depth", "max", "raft_node, raft_peer"), "queued {{raft_node}} -> {{raft_peer}}")]),
]

GROUP = [
    ("row", "Groups"),
    ("Groups", "Groups on each node: all, quiescent (idle, not ticked), led here, faulted.", "short",
     [(gauge("raft_groups", "sum"), "all on {{raft_node}}"), (gauge("raft_groups_quiescent", "sum"), "quiescent on {{raft_node}}"),
      (gauge("raft_groups_leading", "sum"), "led by {{raft_node}}"), (gauge("raft_groups_faulted", "sum"), "faulted on {{raft_node}}")]),
    ("Leader changes", "Role, term or leader changes in each interval.", "short",
     [(f"sum by (raft_node) (increase(raft_leader_changes_total{{{NODE}}}[$__rate_interval]))", "node {{raft_node}}")]),
    ("row", "Replication"),
    ("Follower lag", "Per peer, the largest number of entries it trails the leader by, over the groups the node leads.", "short",
     [(gauge("raft_replication_follower_lag_max", "max", "raft_node, raft_peer"), "{{raft_node}} -> {{raft_peer}}")]),
    ("Flow-control pauses", "Per peer, the groups led here whose replication to it flow control holds (window full, probe outstanding, snapshot in transfer).", "short",
     [(gauge("raft_replication_paused", "sum", "raft_node, raft_peer"), "{{raft_node}} -> {{raft_peer}}")]),
    ("Apply lag", "Largest commit index minus applied index over the node's groups.", "short",
     [(gauge("raft_log_apply_lag_max"), "node {{raft_node}}")]),
    ("Entries sent per peer", "Entries carried by AppendEntries per second, per peer.", "ops",
     [(rate("raft_replication_entries_sent_total", "raft_node, raft_peer"), "{{raft_node}} -> {{raft_peer}}")]),
    # Rejections (raft_append_rejected_total) are rare and their series exists only after the first one, so they are
    # not a panel the test could prove; query them ad hoc.
    ("AppendEntries sent", "AppendEntries per second, per peer.", "ops",
     [(rate("raft_append_sent_total", "raft_node, raft_peer"), "{{raft_node}} -> {{raft_peer}}")]),
    ("row", "Log"),
    ("Log bytes appended", "Encoded entry bytes written per second.", "Bps",
     [(rate("raft_log_bytes_appended_bytes_total"), "node {{raft_node}}")]),
    ("Log indexes of tagged groups", "First, last and commit index of the groups given series of their own (RaftNodeOptions.GroupMetrics, "
     "off by default): compaction shows as a sawtooth of first behind last.", "short",
     [(f'max by (raft_node, raft_group, kind) (raft_group_index{{{NODE},kind=~"first|last|commit"}})', "{{raft_node}} group {{raft_group}} {{kind}}")]),
    ("Snapshots and compactions", "Snapshots taken and log prefixes compacted behind them, in each interval.", "short",
     [(f"sum by (raft_node) (increase(raft_snapshots_taken_total{{{NODE}}}[$__range]))", "snapshots on {{raft_node}}"),
      (f"sum by (raft_node) (increase(raft_log_compactions_total{{{NODE}}}[$__range]))", "compactions on {{raft_node}}")]),
]


def dashboard(uid, title, description, spec):
    panels, y, x, pid = [], 0, 0, 0
    for item in spec:
        pid += 1
        if item[0] == "row":
            if x:
                y, x = y + 8, 0
            panels.append({"id": pid, "type": "row", "title": item[1], "collapsed": False,
                           "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
            y += 1
            continue
        name, desc, unit, targets = item
        if x >= 24:
            y, x = y + 8, 0
        ds = {"type": "prometheus", "uid": "${datasource}"}
        panels.append({
            "id": pid, "type": "timeseries", "title": name, "description": desc, "datasource": ds,
            "gridPos": {"h": 8, "w": 8, "x": x, "y": y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
            "targets": [{"refId": chr(ord("A") + i), "datasource": ds, "expr": e, "legendFormat": legend}
                        for i, (e, legend) in enumerate(targets)],
        })
        x += 8
    return {
        "uid": uid, "title": title, "description": description, "tags": ["raft"], "timezone": "", "editable": True,
        "graphTooltip": 1, "schemaVersion": 39, "version": 1, "refresh": "10s", "time": {"from": "now-30m", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus", "current": {}, "hide": 0, "refresh": 1},
            {"name": "node", "label": "Node", "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": "label_values(raft_groups, raft_node)", "refId": "node"},
             "definition": "label_values(raft_groups, raft_node)", "includeAll": True, "multi": True, "allValue": ".*",
             "current": {}, "refresh": 2, "sort": 3, "hide": 0},
        ]},
        "annotations": {"list": []}, "links": [], "panels": panels,
    }


here = pathlib.Path(__file__).parent
for file, board in [
    ("cluster-overview.json", dashboard("raft-cluster-overview", "Cluster overview",
                                        "A Raft cluster at a glance: leaders, terms, elections, throughput per stage, latency and transport health per node.", OVERVIEW)),
    ("group-detail.json", dashboard("raft-group-detail", "Group detail",
                                    "Groups of each node: replication lag and flow-control pauses per peer, apply lag, log indexes of tagged groups, snapshots and compactions.", GROUP)),
]:
    (here / file).write_text(json.dumps(board, indent=1) + "\n")
