#!/usr/bin/env python3
"""Offline structural checks for the docker/ kit (no Docker engine, no cluster needed).

    python3 docker/checks/kit.py CHECK      # one check; exit 0 pass, 1 fail, 77 skipped
    python3 docker/checks/kit.py --list

Each check cross-reads files that must agree (ports, paths, names, metric families, arguments), the
kind of drift a schema alone cannot see. docker/check.sh runs every check and counts them.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib

import yaml

DOCKER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(DOCKER)
SKIP = 77

# ---- the contract ------------------------------------------------------------------------------
FAMILIES = {
    "shadowdiff_requests_total": "counter",
    "shadowdiff_mirrored_requests_total": "counter",
    "shadowdiff_comparisons_total": "counter",
    "shadowdiff_mismatches_total": "counter",
    "shadowdiff_mirror_skipped_total": "counter",
    "shadowdiff_mirror_outcomes_total": "counter",
    "shadowdiff_candidate_errors_total": "counter",
    "shadowdiff_primary_errors_total": "counter",
    "shadowdiff_upstream_retries_total": "counter",
    "shadowdiff_upstream_duration_seconds": "histogram",
    "shadowdiff_candidate_latency_delta_seconds": "histogram",
    "shadowdiff_status_pairs_total": "counter",
    "shadowdiff_mismatch_rate": "gauge",
    "shadowdiff_mismatch_budget": "gauge",
    "shadowdiff_budget_exceeded": "gauge",
    "shadowdiff_breaker_open": "gauge",
    "shadowdiff_breaker_trips_total": "counter",
    "shadowdiff_mirrors_in_flight": "gauge",
    "shadowdiff_client_connections": "gauge",
    "shadowdiff_client_connections_total": "counter",
    "shadowdiff_connection_limit_waits_total": "counter",
    "shadowdiff_admin_connection_limit_waits_total": "counter",
    "shadowdiff_compare_queue_depth": "gauge",
    "shadowdiff_pending_bytes": "gauge",
    "shadowdiff_compare_duration_seconds": "histogram",
    "shadowdiff_build_info": "gauge",
    "shadowdiff_mirror_percent": "gauge",
    "shadowdiff_record_written_total": "counter",
    "shadowdiff_record_written_bytes_total": "counter",
    "shadowdiff_record_dropped_total": "counter",
    "shadowdiff_served_requests_total": "counter",
    "shadowdiff_served_duration_seconds": "histogram",
    "shadowdiff_canary_fallbacks_total": "counter",
    "shadowdiff_cutover_weight": "gauge",
    "shadowdiff_cutover_step": "gauge",
    "shadowdiff_cutover_state": "gauge",
    "shadowdiff_cutover_gate_value": "gauge",
    "shadowdiff_cutover_gate_failures_total": "counter",
    "shadowdiff_cutover_rollbacks_total": "counter",
}
LABELS = {
    "shadowdiff_requests_total": {"route"},
    "shadowdiff_mirrored_requests_total": {"route"},
    "shadowdiff_comparisons_total": {"route", "result"},
    "shadowdiff_mismatches_total": {"route", "part"},
    "shadowdiff_mirror_skipped_total": {"route", "reason"},
    "shadowdiff_mirror_outcomes_total": {"route", "outcome"},
    "shadowdiff_candidate_errors_total": {"route", "kind"},
    "shadowdiff_primary_errors_total": {"route", "kind"},
    "shadowdiff_upstream_retries_total": {"route", "upstream", "reason"},
    "shadowdiff_upstream_duration_seconds": {"route", "upstream"},
    "shadowdiff_candidate_latency_delta_seconds": {"route"},
    "shadowdiff_status_pairs_total": {"route", "primary_class", "candidate_class"},
    "shadowdiff_mismatch_rate": {"route"},
    "shadowdiff_mismatch_budget": {"route"},
    "shadowdiff_budget_exceeded": {"route"},
    "shadowdiff_build_info": {"version", "commit"},
    "shadowdiff_mirror_percent": {"route"},
    "shadowdiff_record_dropped_total": {"reason"},
    "shadowdiff_served_requests_total": {"route", "backend", "code_class"},
    "shadowdiff_served_duration_seconds": {"route", "backend"},
    "shadowdiff_canary_fallbacks_total": {"route"},
    "shadowdiff_cutover_weight": {"route"},
    "shadowdiff_cutover_step": {"route"},
    "shadowdiff_cutover_state": {"route", "state"},
    "shadowdiff_cutover_gate_value": {"route", "gate"},
    "shadowdiff_cutover_gate_failures_total": {"route", "gate"},
    "shadowdiff_cutover_rollbacks_total": {"route", "reason"},
}
CONFIG_KEYS = {
    "": {"listen", "admin", "mirror_percent", "sample_by", "shutdown_grace", "primary", "candidate",
         "limits", "breaker", "compare", "budget", "routes", "tls", "log", "report", "admin_auth",
         "header_read_timeout", "client_body_timeout", "stream_idle_timeout", "workers", "record"},
    "primary": {"url", "connect_timeout", "timeout", "pool_idle_timeout", "pool_max_idle_per_host",
                "ca_file", "client_cert", "client_key", "max_connections", "queue_timeout", "protocol"},
    "candidate": {"url", "connect_timeout", "timeout", "pool_idle_timeout", "pool_max_idle_per_host",
                  "ca_file", "client_cert", "client_key", "shadow_host_suffix", "add_headers",
                  "remove_headers", "rewrite_path_prefix", "max_connections", "queue_timeout",
                  "protocol", "host", "mark_header"},
    "limits": {"max_connections", "max_in_flight_mirrors", "max_capture_bytes", "max_request_body_bytes", "compare_queue",
               "compare_workers", "max_pending_bytes", "max_decoded_bytes", "h2_max_concurrent_streams",
               "adaptive_mirrors", "min_in_flight_mirrors", "background_nice"},
    "breaker": {"failure_threshold", "backoff", "trip_on_5xx"},
    "compare": {"ignore_paths", "ignore_headers", "compare_headers", "tolerances", "timestamps",
                "unordered_arrays", "sort_arrays_by"},
    "budget": {"ratio", "window", "min_samples"},
    "routes": {"name", "path_prefix", "path_template", "methods", "mirror_percent",
               "allow_unsafe_methods", "sample_by", "compare", "budget", "record"},
    "log": {"format", "level", "access_log"},
    "record": {"percent", "dir", "max_file_bytes", "max_files", "max_body_bytes", "include_candidate"},
    "routes.record": {"percent", "max_body_bytes", "include_candidate"},
}
DURATION = re.compile(r"^(\d+(ms|s|m|h))+$")


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def path(*p):
    return os.path.join(DOCKER, *p)


def load_yaml(rel):
    with open(path(rel)) as f:
        return yaml.safe_load(f)


def load_yaml_all(rel):
    with open(path(rel)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def k8s_docs():
    docs = []
    for name in sorted(os.listdir(path("k8s"))):
        if name.endswith(".yaml") and name != "kustomization.yaml":
            docs += [(name, d) for d in load_yaml_all(os.path.join("k8s", name))]
    for name in sorted(os.listdir(path("argo"))):
        if name.endswith(".yaml") and name != "kustomization.yaml":
            docs += [(name, d) for d in load_yaml_all(os.path.join("argo", name))]
    return docs


def one(docs, kind, name):
    hits = [d for _, d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    check(len(hits) == 1, f"expected one {kind}/{name}, found {len(hits)}")
    return hits[0]


def flag(args, name):
    check(name in args, f"sidecar args lack {name}")
    i = args.index(name)
    check(i + 1 < len(args), f"{name} has no value")
    return args[i + 1]


def hostport(url):
    m = re.match(r"^https?://([^/:]+):(\d+)", url)
    check(m, f"not a host:port URL: {url}")
    return m.group(1), int(m.group(2))


def recorded_names():
    doc = load_yaml("prometheus/recording-rules.yml")
    return {r["record"] for g in doc["groups"] for r in g["rules"]}


def metric_names(expr):
    """Metric-like identifiers in a PromQL expression (strings and label matchers removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    return set(re.findall(r"\b(shadowdiff[a-zA-Z0-9_:]*|up)\b", expr))


def known_metric(name, recorded):
    if name in recorded or name == "up" or name in FAMILIES:
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base and FAMILIES.get(base) == "histogram":
            return True
    return False


def selector_labels(expr):
    """(metric, {label,...}) for each `metric{...}` selector."""
    out = []
    for m in re.finditer(r"\b(shadowdiff_[a-z0-9_]+)\{([^}]*)\}", expr):
        labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", m.group(2)))
        out.append((m.group(1), labels))
    return out


def promtool_parse(exprs):
    """Parse PromQL expressions with promtool (via a throwaway recording-rules file)."""
    promtool = shutil.which("promtool")
    check(promtool, "promtool not installed")
    rules = {"groups": [{"name": "parse", "rules": [
        {"record": f"check:expr_{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        yaml.safe_dump(rules, f)
        name = f.name
    try:
        r = subprocess.run([promtool, "check", "rules", name], capture_output=True, text=True)
        check(r.returncode == 0, "promtool rejects an expression:\n" + r.stdout + r.stderr)
    finally:
        os.unlink(name)


# ---- checks ------------------------------------------------------------------------------------
def c_compose():
    """compose.yaml: services, commands, mounts, health and ports agree with shadowdiff.toml."""
    c = load_yaml("compose.yaml")
    s = c["services"]
    check(set(s) >= {"v1", "v2", "shadowdiff", "prometheus", "grafana", "load"}, f"services: {sorted(s)}")
    cfg = tomllib.load(open(path("shadowdiff.toml"), "rb"))
    check(s["v1"]["command"][:2] == ["sample-service", "v1"], "v1 must run `sample-service v1`")
    check(s["v2"]["command"][:2] == ["sample-service", "v2"], "v2 must run `sample-service v2`")
    for svc, key in (("v1", "primary"), ("v2", "candidate")):
        listen = s[svc]["command"][s[svc]["command"].index("--listen") + 1]
        host, port = hostport(cfg[key]["url"])
        check(host == svc, f"{key}.url host {host} is not the compose service {svc}")
        check(listen == f"0.0.0.0:{port}", f"{svc} listens on {listen}, {key}.url wants port {port}")
    sd = s["shadowdiff"]
    check(sd["build"]["dockerfile"] == "docker/Dockerfile" and sd["build"]["context"] == "..",
          "shadowdiff must build docker/Dockerfile with the repo root as context")
    cfg_path = sd["command"][sd["command"].index("--config") + 1]
    check(f"./shadowdiff.toml:{cfg_path}:ro" in sd["volumes"], f"{cfg_path} is not mounted from ./shadowdiff.toml")
    check(cfg["listen"] == "0.0.0.0:8080" and cfg["admin"] == "0.0.0.0:9901", "listen/admin must bind 0.0.0.0")
    check("8080:8080" in sd["ports"], "data port 8080 not published")
    check(any(p.endswith(":9901:9901") for p in sd["ports"]), "admin port 9901 not published")
    check(sd["depends_on"]["v1"]["condition"] == "service_healthy", "shadowdiff must wait for a healthy v1")
    for name, svc in s.items():
        if name != "load":
            check("healthcheck" in svc, f"{name} has no healthcheck")
    check(sd["healthcheck"]["test"][:3] == ["CMD", "/shadowdiff", "healthcheck"],
          "shadowdiff healthcheck must use `/shadowdiff healthcheck` (distroless has no shell)")
    for name, svc in s.items():
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                check(os.path.exists(path(src)), f"{name}: bind-mount source {src} missing")
    prom = load_yaml("prometheus/prometheus.yml")
    job = [j for j in prom["scrape_configs"] if j["job_name"] == "shadowdiff"]
    check(job and job[0]["static_configs"][0]["targets"] == ["shadowdiff:9901"],
          "prometheus must scrape shadowdiff:9901 in job shadowdiff")
    load = s["load"]
    cmd = " ".join(load.get("command", []))
    m = re.search(r"-targets=(\S+)", cmd)
    check(m, "load: no -targets=")
    mount = [v for v in load["volumes"] if v.split(":")[1] == os.path.dirname(m.group(1))]
    check(mount, f"load: {m.group(1)} is not in a mounted folder")
    check(os.path.exists(path(mount[0].split(":")[0], os.path.basename(m.group(1)))),
          f"load: targets file {m.group(1)} missing on the host side")
    check("-rate=50" in cmd and "-duration=0" in cmd, "load: expect -rate=50 -duration=0")


def c_vegeta():
    """docker/vegeta targets: GET lines against http://shadowdiff:8080 for the demo paths."""
    lines = [l for l in open(path("vegeta/targets-get.txt")).read().splitlines() if l.strip()]
    paths = set()
    for l in lines:
        m = re.match(r"^GET http://shadowdiff:8080(/\S*)$", l)
        check(m, f"bad target line: {l!r}")
        paths.add(m.group(1))
    check(paths >= {"/users/1", "/orders/42", "/catalog", "/slow"}, f"paths: {sorted(paths)}")


def toml_keys(doc, where):
    def walk(table, section):
        allowed = CONFIG_KEYS[section]
        for k, v in table.items():
            check(k in allowed, f"{where}: unknown key {section + '.' if section else ''}{k}")
            if k in ("primary", "candidate", "limits", "breaker", "compare", "budget", "log", "record") and section == "":
                walk(v, k)
            if k == "routes" and section == "":
                names = [r.get("name") for r in v]
                check(all(names) and len(set(names)) == len(names), f"{where}: route names {names}")
                check("default" not in names, f"{where}: route name `default` is reserved")
                for r in v:
                    check("path_prefix" in r or "path_template" in r, f"{where}: route {r['name']} matches nothing")
                    walk(r, "routes")
            if section == "routes" and k in ("compare", "budget"):
                walk(v, k)
            if section == "routes" and k == "record":
                walk(v, "routes.record")
            if k in ("timeout", "connect_timeout", "backoff", "window", "shutdown_grace", "pool_idle_timeout"):
                check(isinstance(v, str) and DURATION.match(v), f"{where}: {k} = {v!r} is not a duration string")
            if k == "mirror_percent":
                check(0 <= v <= 100, f"{where}: mirror_percent {v}")
            if k == "ratio":
                check(0 <= v <= 1, f"{where}: budget ratio {v}")
    walk(doc, "")
    check(doc["primary"]["url"] and doc["candidate"]["url"], f"{where}: primary.url and candidate.url are required")


def config_files():
    cm = one([(None, d) for d in load_yaml_all("k8s/configmap.yaml")], "ConfigMap", "shadowdiff-config")
    return {"docker/shadowdiff.toml": open(path("shadowdiff.toml")).read(),
            "docker/k8s/configmap.yaml[shadowdiff.toml]": cm["data"]["shadowdiff.toml"]}


def c_config_keys():
    """shadowdiff TOML (compose and ConfigMap): only contract keys, durations as strings."""
    for where, text in config_files().items():
        toml_keys(tomllib.loads(text), where)


def find_binary():
    cands = [os.environ.get("SHADOWDIFF_BIN", ""), shutil.which("shadowdiff") or ""]
    for profile in ("release", "debug"):
        cands.append(os.path.join(REPO, "target", profile, "shadowdiff"))
    for c in cands:
        if c and os.access(c, os.X_OK):
            return c
    return None


def c_check_config():
    """`shadowdiff check-config` accepts both config files (needs a built binary; else skipped)."""
    binary = find_binary()
    if not binary:
        print("  no shadowdiff binary (set SHADOWDIFF_BIN or build it): skipped")
        return SKIP
    # A binary that accepts nonsense has no real check-config yet (e.g. a stub main).
    bad = {"<deliberately invalid>": 'mirror_percent = "lots"\nno_such_key = 1\n'}
    for where, text in list(bad.items()) + list(config_files().items()):
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(text)
            name = f.name
        try:
            r = subprocess.run([binary, "check-config", name], capture_output=True, text=True, timeout=30)
            if r.returncode == 1 and "unrecognized subcommand" in (r.stderr + r.stdout):
                print(f"  {binary} has no check-config yet: skipped")
                return SKIP
            if where in bad:
                if r.returncode != 2:
                    print(f"  {binary} check-config exits {r.returncode} on an invalid file (want 2):"
                          " not implemented yet, skipped")
                    return SKIP
                continue
            check(r.returncode == 0, f"check-config {where}: exit {r.returncode}\n{r.stdout}{r.stderr}")
        finally:
            os.unlink(name)


def c_k8s():
    """k8s manifests: sidecar wiring, probes, ports, security, Services, ServiceMonitor, kustomization."""
    docs = k8s_docs()
    dep = one(docs, "Deployment", "shop")
    pod = dep["spec"]["template"]["spec"]
    check(dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items(),
          "Deployment selector does not match its pod labels")
    ctrs = {c["name"]: c for c in pod["containers"]}
    check(set(ctrs) == {"app", "shadowdiff"}, f"containers: {sorted(ctrs)}")
    app, sd = ctrs["app"], ctrs["shadowdiff"]
    check(app["args"][:2] == ["sample-service", "v1"] or "sample-service" not in app["args"], "app must be v1")
    check(any(p["containerPort"] == 8081 for p in app["ports"]), "app container must expose 8081")
    args = sd["args"]
    check(flag(args, "--primary") == "http://127.0.0.1:8081", "sidecar --primary must be http://127.0.0.1:8081")
    check(flag(args, "--listen") == "0.0.0.0:8080", "sidecar --listen must be 0.0.0.0:8080")
    check(flag(args, "--admin") == "0.0.0.0:9901", "sidecar --admin must be 0.0.0.0:9901")
    chost, cport = hostport(flag(args, "--candidate"))
    v2svc = one(docs, "Service", chost.split(".")[0])
    check(any(p["port"] == cport for p in v2svc["spec"]["ports"]), f"Service {chost} has no port {cport}")
    v2dep = one(docs, "Deployment", "shop-v2")
    check(v2svc["spec"]["selector"].items() <= v2dep["spec"]["template"]["metadata"]["labels"].items(),
          "Service shop-v2 selects no shop-v2 pod")
    v2ports = {p.get("name"): p["containerPort"] for c in v2dep["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
    tp = v2svc["spec"]["ports"][0]["targetPort"]
    check(tp in v2ports and v2ports[tp] == cport or tp == cport, "shop-v2 Service targetPort does not reach 8082")
    ports = {p["name"]: p["containerPort"] for p in sd["ports"]}
    check(ports == {"http": 8080, "admin": 9901}, f"sidecar ports {ports}")

    def probe_port(p):
        port = p["httpGet"]["port"]
        return ports.get(port, port)
    check(sd["readinessProbe"]["httpGet"]["path"] == "/healthz/ready" and probe_port(sd["readinessProbe"]) == 9901,
          "readiness must GET /healthz/ready on 9901")
    check(sd["livenessProbe"]["httpGet"]["path"] == "/healthz/live" and probe_port(sd["livenessProbe"]) == 9901,
          "liveness must GET /healthz/live on 9901")
    for name, c in ctrs.items():
        sc = c.get("securityContext", {})
        check(sc.get("runAsNonRoot") is True or pod["securityContext"].get("runAsNonRoot") is True, f"{name}: runAsNonRoot")
        check(sc.get("readOnlyRootFilesystem") is True, f"{name}: readOnlyRootFilesystem")
        check(sc.get("allowPrivilegeEscalation") is False, f"{name}: allowPrivilegeEscalation")
        check(c["resources"]["requests"] and c["resources"]["limits"]["memory"], f"{name}: resources")
    check(pod["securityContext"]["runAsUser"] == 65532, "pod must run as distroless nonroot 65532")
    cfg_path = flag(args, "--config")
    mounts = {m["mountPath"]: m["name"] for m in sd["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    mdir = os.path.dirname(cfg_path)
    check(mdir in mounts and "configMap" in vols[mounts[mdir]], f"{mdir} is not a ConfigMap mount")
    cm = one(docs, "ConfigMap", vols[mounts[mdir]]["configMap"]["name"])
    check(os.path.basename(cfg_path) in cm["data"], f"ConfigMap lacks {os.path.basename(cfg_path)}")
    ann = dep["spec"]["template"]["metadata"]["annotations"]
    check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "9901"
          and ann.get("prometheus.io/path") == "/metrics", "scrape annotations must point at 9901/metrics")
    front = one(docs, "Service", "shop")
    check(front["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items(), "Service shop selects no pod")
    check(all(ports.get(p["targetPort"], p["targetPort"]) == 8080 for p in front["spec"]["ports"]),
          "Service shop must target the sidecar's 8080")
    sm = one(docs, "ServiceMonitor", "shadowdiff")
    adm = [d for _, d in docs if d["kind"] == "Service"
           and sm["spec"]["selector"]["matchLabels"].items() <= d["metadata"].get("labels", {}).items()]
    check(len(adm) == 1, f"ServiceMonitor selects {len(adm)} Services")
    ep_ports = {e["port"] for e in sm["spec"]["endpoints"]}
    svc_ports = {p["name"]: p for p in adm[0]["spec"]["ports"]}
    check(ep_ports <= set(svc_ports), f"ServiceMonitor ports {ep_ports} not on Service {adm[0]['metadata']['name']}")
    check(all(ports.get(svc_ports[p]["targetPort"]) == 9901 for p in ep_ports), "ServiceMonitor must reach 9901")
    check(adm[0]["metadata"]["labels"].get(sm["spec"]["jobLabel"]) == "shadowdiff",
          "jobLabel must yield job=\"shadowdiff\" (the TargetDown alert)")
    check(all(e["path"] == "/metrics" for e in sm["spec"]["endpoints"]), "ServiceMonitor path must be /metrics")
    kz = load_yaml("k8s/kustomization.yaml")
    for r in kz["resources"]:
        check(os.path.exists(path("k8s", r)), f"kustomization resource {r} missing")
    listed = {r for r in kz["resources"] if r.endswith(".yaml")}
    on_disk = {n for n in os.listdir(path("k8s")) if n.endswith(".yaml") and n != "kustomization.yaml"}
    check(listed == on_disk, f"kustomization lists {sorted(listed)}, folder has {sorted(on_disk)}")


def c_argo():
    """AnalysisTemplate gates on the recorded ratio; the Rollout's analysis steps match its args."""
    docs = k8s_docs()
    at = one(docs, "AnalysisTemplate", "shadowdiff-mismatch-ratio")
    declared = {a["name"]: a.get("value") for a in at["spec"]["args"]}
    check({"route", "budget", "prometheus-address"} <= set(declared), f"args: {sorted(declared)}")
    text = yaml.safe_dump(at)
    used = set(re.findall(r"\{\{args\.([a-zA-Z0-9_-]+)\}\}", text))
    check(used <= set(declared), f"undeclared args used: {sorted(used - set(declared))}")
    (metric,) = at["spec"]["metrics"]
    check("result[0] < {{args.budget}}" in metric["successCondition"], "successCondition must be result[0] < budget")
    for k in ("failureLimit", "interval", "count"):
        check(k in metric, f"metric lacks {k}")
    prom = metric["provider"]["prometheus"]
    check(prom["address"] == "{{args.prometheus-address}}", "address must come from args")
    check('shadowdiff:mismatch_ratio:rate5m{route="{{args.route}}"}' in prom["query"], "query must read the recorded ratio")
    recorded = recorded_names()
    for n in metric_names(prom["query"]):
        check(n in recorded, f"query reads {n}, which no recording rule defines")
    q = prom["query"]
    for name, value in {**declared, "route": "orders"}.items():
        q = q.replace("{{args.%s}}" % name, str(value))
    promtool_parse([q])
    float(metric["successCondition"].split("<")[-1].replace("{{args.budget}}", declared["budget"]))
    ro = one(docs, "Rollout", "shop")
    wr = ro["spec"]["workloadRef"]
    dep = one(docs, wr["kind"], wr["name"])
    check(ro["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"], "Rollout/Deployment selectors differ")
    steps = ro["spec"]["strategy"]["canary"]["steps"]
    check(any("setWeight" in s for s in steps) and any("pause" in s for s in steps), "steps need setWeight and pause")
    analyses = [s["analysis"] for s in steps if "analysis" in s]
    check(analyses, "no analysis step")
    check("analysis" in steps[0], "the first step should gate before any traffic moves")
    for a in analyses:
        for t in a["templates"]:
            check(t["templateName"] == at["metadata"]["name"], f"unknown template {t['templateName']}")
        given = {x["name"] for x in a.get("args", [])}
        check(given <= set(declared), f"step passes undeclared args {given - set(declared)}")
        missing = {n for n, v in declared.items() if v is None} - given
        check(not missing, f"step omits required args {missing}")
    weights = [s["setWeight"] for s in steps if "setWeight" in s]
    check(weights == sorted(weights) and all(0 < w <= 100 for w in weights), f"weights {weights}")


def condition(text, result):
    """An Argo success/failure condition (the expr subset these templates use) on one result."""
    check(re.fullmatch(r"[\w\s\[\]().<>=!&|+\-*/]+", text), f"condition uses more than comparisons: {text!r}")
    try:
        return eval(text.replace("&&", " and ").replace("||", " or "), {"__builtins__": {}}, {"len": len, "result": result})
    except Exception as e:  # Argo counts an erroring condition as an Error, not as a verdict
        raise Fail(f"condition {text!r} cannot be evaluated on result={result}: {type(e).__name__}: {e}")


def c_argo_templates():
    """docker/argo: kustomization lists every template; each metric's conditions are complementary,
    never pass on no data, and its query reads recorded series or contract families only."""
    kz = load_yaml("argo/kustomization.yaml")
    on_disk = {n for n in os.listdir(path("argo")) if n.endswith(".yaml") and n != "kustomization.yaml"}
    check(set(kz["resources"]) == on_disk, f"argo kustomization lists {sorted(kz['resources'])}, folder has {sorted(on_disk)}")
    recorded = recorded_names()
    templates = [d for name, d in k8s_docs() if name in on_disk]
    check(all(t["kind"] == "AnalysisTemplate" for t in templates), "docker/argo holds only AnalysisTemplates")
    names = {t["metadata"]["name"] for t in templates}
    check({"shadowdiff-mismatch-ratio", "shadowdiff-cutover"} <= names, f"templates: {sorted(names)}")
    for at in templates:
        tname = at["metadata"]["name"]
        declared = {a["name"]: a.get("value") for a in at["spec"]["args"]}
        check("route" in declared and declared["route"] is None, f"{tname}: route must be a required arg")
        used = set(re.findall(r"\{\{args\.([a-zA-Z0-9_-]+)\}\}", yaml.safe_dump(at)))
        check(used <= set(declared), f"{tname}: undeclared args used: {sorted(used - set(declared))}")
        check(set(declared) <= used, f"{tname}: args declared but never used: {sorted(set(declared) - used)}")
        queries = []
        for m in at["spec"]["metrics"]:
            where = f"{tname}/{m['name']}"
            for k in ("interval", "count", "failureLimit", "successCondition", "failureCondition"):
                check(k in m, f"{where} lacks {k}")
            prom = m["provider"]["prometheus"]
            check(prom["address"] == "{{args.prometheus-address}}", f"{where}: address must come from args")
            check('route="{{args.route}}"' in prom["query"], f"{where}: query must select the route")

            def fill(text):
                for n, v in {**declared, "route": "orders"}.items():
                    text = text.replace("{{args.%s}}" % n, str(v))
                return text
            q = fill(prom["query"])
            queries.append(q)
            for n in metric_names(q):
                check(known_metric(n, recorded), f"{where}: query reads {n}, neither recorded nor a contract family")
            for mname, labels in selector_labels(q):
                check(labels <= LABELS.get(mname, set()), f"{where}: {mname} has no label(s) {labels - LABELS.get(mname, set())}")
            ok, bad = fill(m["successCondition"]), fill(m["failureCondition"])
            check(not condition(ok, []) and not condition(bad, []), f"{where}: no data must be Inconclusive")
            limit = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", ok.split("result[0]")[-1])]
            probes = {0.0, 0.5, 1.0, 2.0, 1e9} | {sum(limit)} | {sum(limit) * f for f in (0.5, 0.999, 1.001, 2)}
            for v in sorted(probes):
                check(condition(ok, [v]) != condition(bad, [v]),
                      f"{where}: success and failure conditions are not complementary at {v}")
        promtool_parse(queries)


def c_dashboard():
    """Grafana dashboard: parses, templated datasource + route variable, known metrics only."""
    d = json.load(open(path("grafana/shadowdiff-dashboard.json")))
    check(38 <= d["schemaVersion"] <= 41, f"schemaVersion {d['schemaVersion']}")
    tv = {v["name"]: v for v in d["templating"]["list"]}
    check(tv.get("DS_PROMETHEUS", {}).get("type") == "datasource", "no datasource variable DS_PROMETHEUS")
    check(tv.get("route", {}).get("type") == "query", "no route variable")
    recorded = recorded_names()
    ids, exprs, titles = set(), [], []
    for p in d["panels"]:
        check(p["id"] not in ids, f"duplicate panel id {p['id']}")
        ids.add(p["id"])
        titles.append(p["title"].lower())
        if p["type"] == "row":
            continue
        check(p["datasource"]["uid"] == "${DS_PROMETHEUS}", f"panel {p['title']}: datasource not templated")
        for t in p["targets"]:
            check(t["datasource"]["uid"] == "${DS_PROMETHEUS}", f"panel {p['title']}: target datasource not templated")
            exprs.append(t["expr"])
            for n in metric_names(t["expr"]):
                check(known_metric(n, recorded), f"panel {p['title']}: unknown metric {n}")
    joined = " ".join(exprs)
    for need in ("shadowdiff:mismatch_ratio:rate5m", "shadowdiff:mismatch_budget:max",
                 "shadowdiff_upstream_duration_seconds_bucket", "shadowdiff_mirror_skipped_total",
                 "shadowdiff_breaker_open", "shadowdiff_mirrors_in_flight", "shadowdiff_compare_queue_depth",
                 "shadowdiff_candidate_errors_total",
                 "shadowdiff_cutover_weight", "shadowdiff_cutover_step", "shadowdiff_cutover_state",
                 "shadowdiff_cutover_gate_value", "shadowdiff_cutover_gate_failures_total",
                 "shadowdiff_cutover_rollbacks_total", "shadowdiff_served_requests_total",
                 "shadowdiff_served_duration_seconds_bucket", "shadowdiff_canary_fallbacks_total",
                 "shadowdiff:served_error_ratio:rate5m", "shadowdiff:served_latency_v2_v1_ratio:p95_5m"):
        check(need in joined, f"dashboard never shows {need}")
    check("cutover" in titles, "no Cutover row")
    for gate in ("error_rate", "latency", "mismatch"):
        check(f'gate="{gate}"' in joined, f"dashboard never shows the {gate} gate")
    check(re.search(r"histogram_quantile\(0\.95,.*?shadowdiff_upstream_duration_seconds_bucket", joined),
          "no p95 over shadowdiff_upstream_duration_seconds")
    sub = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "1m", "$route": ".*"}
    for name, v in tv.items():  # free-text variables (thresholds): their default must be a number
        if v["type"] in ("textbox", "constant"):
            float(v["query"])
            sub["$" + name] = v["query"]
    parsed = []
    for e in exprs:
        for k, v in sub.items():
            e = e.replace(k, v)
        parsed.append(e)
    promtool_parse(parsed)
    # provisioning agrees with compose
    ds = load_yaml("grafana/provisioning/datasources/prometheus.yml")["datasources"][0]
    check(ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090", "datasource must be http://prometheus:9090")
    prov = load_yaml("grafana/provisioning/dashboards/shadowdiff.yml")["providers"][0]
    compose = load_yaml("compose.yaml")["services"]["grafana"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in compose["volumes"]}
    dash_in = [dst for dst, src in mounted.items() if src.endswith("shadowdiff-dashboard.json")]
    check(dash_in and os.path.dirname(dash_in[0]) == prov["options"]["path"],
          "dashboard provider path is not where compose mounts the dashboard")
    check(mounted.get("/etc/grafana/provisioning") == "./grafana/provisioning", "provisioning not mounted")


def c_rule_metrics():
    """Rules, dashboard and analysis read only contract metric families with their labels."""
    recorded = recorded_names()
    for f in ("prometheus/recording-rules.yml", "prometheus/alerting-rules.yml"):
        for g in load_yaml(f)["groups"]:
            for r in g["rules"]:
                for n in metric_names(r["expr"]):
                    check(known_metric(n, recorded), f"{f}: {r.get('record') or r.get('alert')} reads unknown {n}")
                for m, labels in selector_labels(r["expr"]):
                    base = re.sub(r"_(bucket|sum|count)$", "", m) if m not in FAMILIES else m
                    allowed = LABELS.get(base, set()) | {"le", "job", "instance"}
                    check(labels <= allowed, f"{f}: {m} has no label(s) {labels - allowed}")
                if "alert" in r:
                    check(r.get("for") is not None, f"alert {r['alert']} has no for:")
                    check(r["labels"].get("severity") in {"page", "ticket", "info"}, f"alert {r['alert']} severity")
                    check({"summary", "description"} <= set(r["annotations"]), f"alert {r['alert']} annotations")
    alerts = {r["alert"] for g in load_yaml("prometheus/alerting-rules.yml")["groups"] for r in g["rules"]}
    tests = open(path("prometheus/rules_test.yml")).read()
    for a in alerts:
        check(f"alertname: {a}" in tests, f"alert {a} has no unit test")
    for rec in recorded:
        check(rec in tests, f"recording rule {rec} has no unit test")


def c_dockerfile():
    """Dockerfile: builder/runtime images, non-root, ports, self-probing HEALTHCHECK, ignore file."""
    text = open(path("Dockerfile")).read()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    check(froms[0].startswith("rust:1-bookworm"), f"builder {froms[0]}")
    check(froms[-1] in ("gcr.io/distroless/static-debian12:nonroot", "scratch"), f"runtime {froms[-1]}")
    check("musl-tools" in text and "rustup target add" in text, "musl build needs musl-tools and the rust target")
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    check(users and users[-1].split(":")[0] not in ("root", "0"), "final USER must be non-root")
    check(re.search(r"^EXPOSE\s+8080\s+9901\s*$", text, re.M), "EXPOSE 8080 9901")
    check(re.search(r'^\s*CMD \["/shadowdiff", "healthcheck"\]', text, re.M), "HEALTHCHECK must run /shadowdiff healthcheck")
    check(re.search(r'^ENTRYPOINT \["/shadowdiff"\]', text, re.M), "ENTRYPOINT /shadowdiff")
    ignore = open(path("Dockerfile.dockerignore")).read().split()
    check("target/" in ignore or "target" in ignore or "/target" in ignore, "ignore file must exclude target/")
    for must in ("Cargo.toml", "Cargo.lock"):
        check(must not in ignore, f"ignore file must not exclude {must}")


# Registration helpers in proxy/src/observe/metrics.rs and the family type each one makes.
REGISTER_HELPERS = {"counter": "counter", "int_counter": "counter", "histogram": "histogram",
                    "gauge_vec": "gauge", "int_gauge_vec": "gauge", "int_gauge": "gauge"}


def c_contract_source():
    """The contract (FAMILIES, LABELS) matches what proxy/src registers: names, types, label sets."""
    src_dir = os.path.join(REPO, "proxy", "src")
    if not os.path.isdir(src_dir):
        print("  no proxy/src next to docker/: skipped")
        return SKIP
    src = ""
    for root, _, files in os.walk(src_dir):
        for name in files:
            if name.endswith(".rs"):
                with open(os.path.join(root, name)) as f:
                    src += f.read()
    literals = set(re.findall(r'"(shadowdiff_[a-z0-9_]+)"', src))
    missing = sorted(set(FAMILIES) - literals)
    check(not missing, f"contract families no source under proxy/src registers: {missing}")
    # helper(r, "name", "help", &["label", ...]): the label set and type are checkable.
    regs = re.findall(r'\b(\w+)\(\s*\w+,\s*"(shadowdiff_[a-z0-9_]+)",\s*"(?:[^"\\]|\\.)*",\s*&\[([^\]]*)\]', src)
    check(len(regs) >= 20, f"found only {len(regs)} labelled registrations: has metrics.rs changed shape?")
    for helper, name, labels in regs:
        if name not in FAMILIES:
            continue
        declared = set(re.findall(r'"([a-zA-Z_][a-zA-Z0-9_]*)"', labels))
        check(declared == LABELS.get(name, set()),
              f"{name}: proxy/src registers labels {sorted(declared)}, the contract says {sorted(LABELS.get(name, set()))}")
        kind = REGISTER_HELPERS.get(helper)
        check(kind is None or kind == FAMILIES[name], f"{name}: registered by {helper} ({kind}), the contract says {FAMILIES[name]}")


CHECKS = {
    "compose-structure": c_compose,
    "vegeta-targets": c_vegeta,
    "config-keys": c_config_keys,
    "check-config": c_check_config,
    "k8s-structure": c_k8s,
    "argo-structure": c_argo,
    "argo-templates": c_argo_templates,
    "dashboard": c_dashboard,
    "rule-metrics": c_rule_metrics,
    "contract-source": c_contract_source,
    "dockerfile-structure": c_dockerfile,
}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CHECKS and sys.argv[1] != "--list":
        print(__doc__)
        return 2
    if sys.argv[1] == "--list":
        print("\n".join(CHECKS))
        return 0
    try:
        rc = CHECKS[sys.argv[1]]()
        return rc or 0
    except Fail as e:
        print(f"  {e}")
        return 1
    except (KeyError, IndexError, TypeError, ValueError, OSError) as e:
        print(f"  malformed input: {type(e).__name__}: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
