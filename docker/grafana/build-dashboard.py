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
def ts(title, desc, targets, x, y, w=12, h=8, unit="short", stack=False, overrides=None, minv=None):
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
       "hide": 0, "regex": "", "sort": 1, "options": []}]},
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
