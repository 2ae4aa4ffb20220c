#!/usr/bin/env python3
"""Builds docker/grafana/shadowdiff-dashboard.json. Edit this file, not the JSON, then run:

    python3 docker/grafana/build-dashboard.py            # rewrite the JSON
    python3 docker/grafana/build-dashboard.py --check    # exit 1 if the JSON is out of date

Panels read the recorded series from docker/prometheus/recording-rules.yml where one exists, and
the raw metric families otherwise. The datasource is the template variable DS_PROMETHEUS, so the
file works both provisioned and imported.
"""
import json
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shadowdiff-dashboard.json")
DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
R = 'route=~"$route"'
panels = []
pid = [0]
def nid():
    pid[0] += 1
    return pid[0]
def tgt(expr, legend, ref, instant=False, fmt=None):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref, "range": not instant, "instant": instant}
    if fmt: t["format"] = fmt
    return t
def row(title, y):
    panels.append({"type": "row", "title": title, "id": nid(), "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
def ts(title, desc, targets, x, y, w=12, h=8, unit="short", stack=False, overrides=None, minv=None, interp=None):
    d = {"type": "timeseries", "title": title, "description": desc, "id": nid(), "datasource": DS,
         "gridPos": {"h": h, "w": w, "x": x, "y": y},
         "targets": [tgt(*t) for t in targets],
         "fieldConfig": {"defaults": {"unit": unit, "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10 if not stack else 40,
                                       "showPoints": "never", "spanNulls": False,
                                       "stacking": {"mode": "normal" if stack else "none", "group": "A"}},
                                       "color": {"mode": "palette-classic"}},
                         "overrides": overrides or []},
         "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"], "showLegend": True},
                     "tooltip": {"mode": "multi", "sort": "desc"}}}
    if minv is not None:
        d["fieldConfig"]["defaults"]["min"] = minv
    if interp:
        d["fieldConfig"]["defaults"]["custom"]["lineInterpolation"] = interp
    panels.append(d)
def stat(title, desc, expr, x, y, w=6, h=4, unit="short", steps=None, mappings=None, decimals=None):
    d = {"type": "stat", "title": title, "description": desc, "id": nid(), "datasource": DS,
         "gridPos": {"h": h, "w": w, "x": x, "y": y},
         "targets": [tgt(expr, "", "A", instant=True)],
         "fieldConfig": {"defaults": {"unit": unit, "mappings": mappings or [],
                                      "thresholds": {"mode": "absolute", "steps": steps or [{"color": "green", "value": None}]},
                                      "color": {"mode": "thresholds"}}, "overrides": []},
         "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                     "colorMode": "background", "graphMode": "none", "textMode": "auto", "justifyMode": "auto", "orientation": "auto"}}
    if decimals is not None:
        d["fieldConfig"]["defaults"]["decimals"] = decimals
    panels.append(d)

y = 0
row("Gate: mismatches vs budget", y); y += 1
stat("Fleet mismatch ratio (5m)", "Mismatched comparisons / all comparisons, all routes and instances. Empty = no comparisons.",
     "shadowdiff:mismatch_ratio_fleet:rate5m", 0, y, unit="percentunit", decimals=3,
     steps=[{"color": "green", "value": None}, {"color": "orange", "value": 0.001}, {"color": "red", "value": 0.01}])
stat("Routes over budget", "Routes whose 5m mismatch ratio (fleet-wide) is above their budget.",
     f"count((shadowdiff:mismatch_ratio:rate5m{{{R}}} > on (route) shadowdiff:mismatch_budget:max)) or vector(0)", 6, y,
     steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}])
stat("Breaker open (instances)", "Instances whose circuit breaker to v2 is open (mirroring paused there).",
     "sum(shadowdiff_breaker_open) or vector(0)", 12, y,
     steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}])
stat("Comparisons / s", "Comparisons completed per second (selected routes).",
     f"sum(shadowdiff:comparisons:rate5m{{{R}}}) or vector(0)", 18, y, unit="reqps", decimals=1)
y += 4
ts("Mismatch ratio vs budget by route", "Solid: recorded 5m mismatch ratio per route (summed over instances). Dashed: the route's budget (shadowdiff_mismatch_budget).",
   [(f"shadowdiff:mismatch_ratio:rate5m{{{R}}}", "{{route}} ratio", "A"),
    (f"shadowdiff:mismatch_budget:max{{{R}}}", "{{route}} budget", "B")],
   0, y, w=12, unit="percentunit", minv=0,
   overrides=[{"matcher": {"id": "byRegexp", "options": ".* budget$"},
               "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                              {"id": "custom.fillOpacity", "value": 0}]}])
ts("Mismatch ratio, burn-rate windows", "The windows the burn-rate alerts read: 5m, 30m, 1h, 6h.",
   [(f"shadowdiff:mismatch_ratio:rate5m{{{R}}}", "{{route}} 5m", "A"),
    (f"shadowdiff:mismatch_ratio:rate30m{{{R}}}", "{{route}} 30m", "B"),
    (f"shadowdiff:mismatch_ratio:rate1h{{{R}}}", "{{route}} 1h", "C"),
    (f"shadowdiff:mismatch_ratio:rate6h{{{R}}}", "{{route}} 6h", "D")],
   12, y, w=12, unit="percentunit", minv=0)
y += 8
ts("Mirror share by route", "shadowdiff_mirror_percent: share of eligible requests mirrored now (0 = braked). Max over instances; a spread means instances disagree.",
   [(f"max by (route) (shadowdiff_mirror_percent{{{R}}})", "{{route}} max", "A"),
    (f"min by (route) (shadowdiff_mirror_percent{{{R}}})", "{{route}} min", "B")],
   0, y, w=8, unit="percent", minv=0)
ts("Mismatches by part", "What differs: status, headers or body (per second).",
   [(f"shadowdiff:mismatches_by_part:rate5m{{{R}}}", "{{route}} {{part}}", "A")], 8, y, w=8, unit="reqps", stack=True)
ts("Status pairs (primary → candidate)", "Responses per second by v1 status class and v2 status class.",
   [(f"sum by (primary_class, candidate_class) (rate(shadowdiff_status_pairs_total{{{R}}}[$__rate_interval]))",
     "{{primary_class}} → {{candidate_class}}", "A")], 16, y, w=8, unit="reqps", stack=True)
y += 8
row("Traffic and latency", y); y += 1
ts("Requests, mirrors, comparisons", "Requests served, requests mirrored to v2, comparisons completed (per second).",
   [(f"sum by (route) (rate(shadowdiff_requests_total{{{R}}}[$__rate_interval]))", "{{route}} served", "A"),
    (f"sum by (route) (rate(shadowdiff_mirrored_requests_total{{{R}}}[$__rate_interval]))", "{{route}} mirrored", "B"),
    (f"sum by (route) (rate(shadowdiff_comparisons_total{{{R}}}[$__rate_interval]))", "{{route}} compared", "C")],
   0, y, unit="reqps")
ts("Upstream latency p95 by leg", "p95 of time to v1 (primary) and v2 (candidate) responses.",
   [(f"histogram_quantile(0.95, sum by (route, upstream, le) (rate(shadowdiff_upstream_duration_seconds_bucket{{{R}}}[$__rate_interval])))",
     "{{route}} {{upstream}} p95", "A")], 12, y, unit="s", minv=0)
y += 8
ts("Candidate − primary latency (p50, p95)", "How much slower (positive) or faster (negative) v2 answers than v1 for the same request.",
   [(f"histogram_quantile(0.5, sum by (route, le) (rate(shadowdiff_candidate_latency_delta_seconds_bucket{{{R}}}[$__rate_interval])))", "{{route}} p50", "A"),
    (f"histogram_quantile(0.95, sum by (route, le) (rate(shadowdiff_candidate_latency_delta_seconds_bucket{{{R}}}[$__rate_interval])))", "{{route}} p95", "B")],
   0, y, unit="s")
ts("Comparison duration p95", "Time a comparison job takes in the diff engine (off the request path).",
   [("histogram_quantile(0.95, sum by (le) (rate(shadowdiff_compare_duration_seconds_bucket[$__rate_interval])))", "p95", "A"),
    ("histogram_quantile(0.5, sum by (le) (rate(shadowdiff_compare_duration_seconds_bucket[$__rate_interval])))", "p50", "B")],
   12, y, unit="s", minv=0)
y += 8
row("Health of the mirror", y); y += 1
ts("Mirrors skipped by reason", "Requests not mirrored or not compared, by reason (unsafe_method, queue_full, breaker_open, ...).",
   [(f"sum by (reason) (rate(shadowdiff_mirror_skipped_total{{{R}}}[$__rate_interval]))", "{{reason}}", "A")],
   0, y, unit="reqps", stack=True)
ts("Candidate errors by kind", "v2 failures per second: connect, timeout, reset, protocol, status_5xx.",
   [(f"sum by (route, kind) (rate(shadowdiff_candidate_errors_total{{{R}}}[$__rate_interval]))", "{{route}} {{kind}}", "A"),
    (f"shadowdiff:candidate_error_ratio:rate5m{{{R}}}", "{{route}} error ratio", "B")],
   12, y, unit="reqps",
   overrides=[{"matcher": {"id": "byRegexp", "options": ".* error ratio$"},
               "properties": [{"id": "unit", "value": "percentunit"}, {"id": "custom.axisPlacement", "value": "right"}]}])
y += 8
ts("Breaker", "1 = breaker open on that instance (mirroring paused); trips counted per window.",
   [("max by (instance) (shadowdiff_breaker_open)", "{{instance}} open", "A"),
    ("sum by (instance) (increase(shadowdiff_breaker_trips_total[$__rate_interval]))", "{{instance}} trips", "B")],
   0, y, w=8, minv=0)
ts("In flight and queued", "Mirrors in flight to v2 and comparison jobs waiting for a worker (all instances).",
   [("sum by (instance) (shadowdiff_mirrors_in_flight)", "{{instance}} mirrors in flight", "A"),
    ("sum by (instance) (shadowdiff_compare_queue_depth)", "{{instance}} compare queue", "B")],
   8, y, w=8, minv=0)
ts("Pending comparison bytes", "Bytes held by captured bodies awaiting comparison (bounded by limits.max_pending_bytes).",
   [("sum by (instance) (shadowdiff_pending_bytes)", "{{instance}}", "A")], 16, y, w=8, unit="bytes", minv=0)
y += 8
ts("Primary (v1) errors by kind", "Errors on the path that serves clients.",
   [(f"sum by (route, kind) (rate(shadowdiff_primary_errors_total{{{R}}}[$__rate_interval]))", "{{route}} {{kind}}", "A")],
   0, y, unit="reqps")
panels.append({"type": "table", "title": "Build info", "description": "shadowdiff_build_info by instance.", "id": nid(), "datasource": DS,
               "gridPos": {"h": 8, "w": 12, "x": 12, "y": y},
               "targets": [tgt("max by (instance, version, commit) (shadowdiff_build_info)", "", "A", instant=True, fmt="table")],
               "fieldConfig": {"defaults": {}, "overrides": []},
               "options": {"showHeader": True},
               "transformations": [{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True}}}]})
y += 8
# ---- the progressive cutover: v2 serves a sticky share (weight) of users, gated per interval ----
row("Cutover", y); y += 1
DASHED = [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}, {"id": "custom.fillOpacity", "value": 0}]
def dashed(regexp):
    return {"matcher": {"id": "byRegexp", "options": regexp}, "properties": DASHED}
# State codes, ordered so that max over instances shows the one that needs a human most.
STATES = [("shadow", "blue"), ("promoted", "dark-green"), ("progressing", "green"), ("paused", "yellow"), ("aborted", "red")]
state_code = " or ".join(f'shadowdiff_cutover_state{{{R},state="{st}"}} * {i}' for i, (st, _) in enumerate(STATES) if i)
panels.append({"type": "table", "title": "Cutover state now",
               "description": "Instances in each cutover state, per route (shadowdiff_cutover_state == 1). More than one row for a route: the instances disagree.",
               "id": nid(), "datasource": DS, "gridPos": {"h": 8, "w": 8, "x": 0, "y": y},
               "targets": [tgt(f"count by (route, state) (shadowdiff_cutover_state{{{R}}} == 1)", "", "A", instant=True, fmt="table")],
               "fieldConfig": {"defaults": {}, "overrides": []},
               "options": {"showHeader": True, "sortBy": [{"displayName": "route", "desc": False}]},
               "transformations": [{"id": "organize", "options": {"excludeByName": {"Time": True},
                                                                  "renameByName": {"Value": "instances"}}}]})
panels.append({"type": "state-timeline", "title": "Cutover state over time",
               "description": "Per route, the state of the instance furthest from healthy: aborted > paused > progressing > promoted > shadow.",
               "id": nid(), "datasource": DS, "gridPos": {"h": 8, "w": 16, "x": 8, "y": y},
               "targets": [tgt(f"max by (route) ({state_code})", "{{route}}", "A")],
               "fieldConfig": {"defaults": {"custom": {"lineWidth": 0, "fillOpacity": 80},
                                            "color": {"mode": "thresholds"},
                                            "thresholds": {"mode": "absolute", "steps": [{"color": "text", "value": None}]},
                                            "mappings": [{"type": "value", "options": {
                                                str(i): {"text": st, "color": color, "index": i} for i, (st, color) in enumerate(STATES)}}]},
                               "overrides": []},
               "options": {"mergeValues": True, "showValue": "auto", "alignValue": "left", "rowHeight": 0.9,
                           "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                           "tooltip": {"mode": "single", "sort": "none"}}})
y += 8
ts("Weight (% of users on v2)", "shadowdiff_cutover_weight: share of users served by v2. Max and min over instances; a gap between them means the instances disagree (alert ShadowdiffCutoverWeightDisagreement).",
   [(f"max by (route) (shadowdiff_cutover_weight{{{R}}})", "{{route}} max", "A"),
    (f"min by (route) (shadowdiff_cutover_weight{{{R}}})", "{{route}} min", "B")],
   0, y, w=12, unit="percent", minv=0, interp="stepAfter")
ts("Step", "shadowdiff_cutover_step: index of the current step of the schedule (max and min over instances).",
   [(f"max by (route) (shadowdiff_cutover_step{{{R}}})", "{{route}} max", "A"),
    (f"min by (route) (shadowdiff_cutover_step{{{R}}})", "{{route}} min", "B")],
   12, y, w=12, minv=0, interp="stepAfter")
y += 8
ts("Gate: v2 error rate", "Solid: the error_rate gate's value in each instance's last interval (worst instance), and the fleet's served error ratio of v2 over 5m. Dashed: max_error_rate, the dashboard variable (set it to the route's [cutover] max_error_rate; default 0.005).",
   [(f'max by (route) (shadowdiff_cutover_gate_value{{{R},gate="error_rate"}})', "{{route}} gate", "A"),
    (f'shadowdiff:served_error_ratio:rate5m{{{R},backend="v2"}}', "{{route}} fleet 5m", "B"),
    ("vector($max_error_rate)", "max", "C")],
   0, y, w=8, unit="percentunit", minv=0, overrides=[dashed("^max$")])
ts("Gate: v2 p95 over v1 p95, minus 1", "Solid: the latency gate's value in each instance's last interval (worst instance), and the fleet's v2/v1 served p95 over 5m minus 1. Dashed: max_latency_increase, the dashboard variable (the route's [cutover] max_latency_increase; default 0.10).",
   [(f'max by (route) (shadowdiff_cutover_gate_value{{{R},gate="latency"}})', "{{route}} gate", "A"),
    (f"shadowdiff:served_latency_v2_v1_ratio:p95_5m{{{R}}} - 1", "{{route}} fleet 5m", "B"),
    ("vector($max_latency_increase)", "max", "C")],
   8, y, w=8, unit="percentunit", overrides=[dashed("^max$")])
ts("Gate: mismatch ratio", "Solid: the mismatch gate's value in each instance's last interval (worst instance). Dashed: the route's budget, which is the gate's maximum.",
   [(f'max by (route) (shadowdiff_cutover_gate_value{{{R},gate="mismatch"}})', "{{route}} gate", "A"),
    (f"shadowdiff:mismatch_budget:max{{{R}}}", "{{route}} budget", "B")],
   16, y, w=8, unit="percentunit", minv=0, overrides=[dashed(".* budget$")])
y += 8
ts("Prometheus gates", "Configured [[cutover.gates]] values in each instance's last interval (worst instance); each is compared with its own max.",
   [(f'max by (route, gate) (shadowdiff_cutover_gate_value{{{R},gate!~"error_rate|latency|mismatch"}})', "{{route}} {{gate}}", "A")],
   0, y, w=8)
ts("Gate failures (total)", "shadowdiff_cutover_gate_failures_total summed over instances: each step up is an interval in which the gate failed (a line appears at its first failure).",
   [(f"sum by (route, gate) (shadowdiff_cutover_gate_failures_total{{{R}}})", "{{route}} {{gate}}", "A")],
   8, y, w=8, minv=0, interp="stepAfter")
ts("Rollbacks (total)", "shadowdiff_cutover_rollbacks_total summed over instances, by reason (the failing gate, or manual): each step up is a rollback to weight 0 (a line appears at its first).",
   [(f"sum by (route, reason) (shadowdiff_cutover_rollbacks_total{{{R}}})", "{{route}} {{reason}}", "A")],
   16, y, w=8, minv=0, interp="stepAfter")
y += 8
ts("Served requests by backend and code class", "Answers to clients per second by the backend that served them; error = that backend gave no response (a fallback counts once as v2 error, once under v1).",
   [(f"sum by (backend, code_class) (rate(shadowdiff_served_requests_total{{{R}}}[$__rate_interval]))", "{{backend}} {{code_class}}", "A")],
   0, y, unit="reqps", stack=True)
ts("Served error ratio by backend", "Recorded: (5xx + error) / all served, per route and backend, over 5m and 1h. No line = that backend served nothing.",
   [(f"shadowdiff:served_error_ratio:rate5m{{{R}}}", "{{route}} {{backend}} 5m", "A"),
    (f"shadowdiff:served_error_ratio:rate1h{{{R}}}", "{{route}} {{backend}} 1h", "B")],
   12, y, unit="percentunit", minv=0)
y += 8
ts("Served p95 by backend", "p95 of time to response headers of served requests (shadowdiff_served_duration_seconds), v1 next to v2.",
   [(f"histogram_quantile(0.95, sum by (route, backend, le) (rate(shadowdiff_served_duration_seconds_bucket{{{R}}}[$__rate_interval])))",
     "{{route}} {{backend}} p95", "A")], 0, y, unit="s", minv=0)
ts("Canary fallbacks", "Requests assigned to v2 that v2 failed before any byte, served by v1 instead (per second), and their share of requests assigned to v2 (5m, right axis).",
   [(f"sum by (route) (rate(shadowdiff_canary_fallbacks_total{{{R}}}[$__rate_interval]))", "{{route}} fallbacks", "A"),
    (f"shadowdiff:canary_fallback_ratio:rate5m{{{R}}}", "{{route}} share", "B")],
   12, y, unit="reqps", minv=0,
   overrides=[{"matcher": {"id": "byRegexp", "options": ".* share$"},
               "properties": [{"id": "unit", "value": "percentunit"}, {"id": "custom.axisPlacement", "value": "right"}]}])

dash = {
  "title": "shadowdiff",
  "uid": "shadowdiff",
  "description": "Shadow traffic: v2 (candidate) compared with v1 (primary), mismatch ratio against budget.",
  "tags": ["shadowdiff", "rollout"],
  "timezone": "browser",
  "editable": True,
  "graphTooltip": 1,
  "schemaVersion": 39,
  "version": 1,
  "refresh": "30s",
  "time": {"from": "now-1h", "to": "now"},
  "fiscalYearStartMonth": 0,
  "liveNow": False,
  "links": [],
  "annotations": {"list": [
      {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
       "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}]},
  "templating": {"list": [
      {"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource", "query": "prometheus",
       "current": {}, "hide": 0, "refresh": 1, "regex": "", "includeAll": False, "multi": False, "options": []},
      {"name": "route", "label": "Route", "type": "query", "datasource": DS,
       "definition": "label_values(shadowdiff_requests_total, route)",
       "query": {"query": "label_values(shadowdiff_requests_total, route)", "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
       "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
       "hide": 0, "regex": "", "sort": 1, "options": []},
      # The cutover's thresholds are config, not metrics: drawn from these (defaults = shadowdiff's).
      {"name": "max_error_rate", "label": "Cutover max_error_rate", "type": "textbox", "query": "0.005",
       "current": {"selected": False, "text": "0.005", "value": "0.005"}, "hide": 0,
       "options": [{"selected": True, "text": "0.005", "value": "0.005"}]},
      {"name": "max_latency_increase", "label": "Cutover max_latency_increase", "type": "textbox", "query": "0.1",
       "current": {"selected": False, "text": "0.1", "value": "0.1"}, "hide": 0,
       "options": [{"selected": True, "text": "0.1", "value": "0.1"}]}]},
  "panels": panels,
}
text = json.dumps(dash, indent=2, ensure_ascii=False) + "\n"
if sys.argv[1:] == ["--check"]:
    with open(OUT, encoding="utf-8") as f:
        if f.read() != text:
            print(f"{OUT} is out of date: run python3 docker/grafana/build-dashboard.py")
            sys.exit(1)
    sys.exit(0)
with open(OUT, "w", encoding="utf-8") as f:
    f.write(text)
print(f"{OUT}: {len(panels)} panels")
