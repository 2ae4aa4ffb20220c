//! `shadowdiff ctl`: the runbook's one-liners against one proxy or a fleet — `status`, `abort`,
//! `pause`, `resume`, `promote`, `weight W` — each sent to every `--admin` URL and reported per
//! replica. Exit 0 when every replica did it, 1 when any did not (named), 2 on usage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::Full;
use serde_json::Value;

use crate::net::fetch::Fetcher;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    /// Each route's state, weight, step and gates
    Status,
    /// Roll back to weight 0 now; stays aborted until `resume`
    Abort,
    /// Hold the current weight (the gates still roll back)
    Pause,
    /// Walk on from the first step at or above the current weight
    Resume,
    /// Advance one step now
    Promote,
    /// Pin the weight (0-100) until `resume`
    Weight,
}

#[derive(Debug, Clone, clap::Args)]
pub struct CtlArgs {
    #[arg(value_enum)]
    pub action: Action,
    /// The weight, for `weight`
    #[arg(value_name = "W")]
    pub weight: Option<f64>,
    /// Admin base URL of a replica; repeat for a fleet
    #[arg(
        long = "admin",
        value_name = "URL",
        default_value = "http://127.0.0.1:9901"
    )]
    pub admin: Vec<String>,
    /// File holding the admin bearer token ([admin_auth] token_file)
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Act on this route only (default: every route in canary or promoted mode)
    #[arg(long, value_name = "NAME")]
    pub route: Option<String>,
    /// Print each replica's answer as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: CtlArgs) -> ExitCode {
    if args.action == Action::Weight && args.weight.is_none() {
        eprintln!("shadowdiff ctl weight: give the weight, e.g. `shadowdiff ctl weight 25`");
        return ExitCode::from(2);
    }
    let token = match &args.token_file {
        Some(f) => match std::fs::read_to_string(f) {
            Ok(t) => Some(t.trim().to_owned()),
            Err(e) => {
                eprintln!("shadowdiff ctl: --token-file {}: {e}", f.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let rt = match crate::app::run::runtime(1) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shadowdiff ctl: {e:#}");
            return ExitCode::from(1);
        }
    };
    let all_ok = rt.block_on(async {
        let fetcher = match Fetcher::new() {
            Ok(f) => f,
            Err(e) => {
                eprintln!("shadowdiff ctl: {e:#}");
                return false;
            }
        };
        let mut ok = true;
        for admin in &args.admin {
            match call(&fetcher, admin, &args, token.as_deref()).await {
                Ok(answer) => print(admin, &args, &answer),
                Err(e) => {
                    ok = false;
                    println!("{admin}: FAILED: {e:#}");
                }
            }
        }
        ok
    });
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn call(
    fetcher: &Fetcher,
    admin: &str,
    args: &CtlArgs,
    token: Option<&str>,
) -> anyhow::Result<Value> {
    let base = admin.trim_end_matches('/');
    let route = args
        .route
        .as_deref()
        .map(|r| format!("?route={r}"))
        .unwrap_or_default();
    let (method, path, body) = match args.action {
        Action::Status => (Method::GET, "status", Bytes::new()),
        Action::Weight => {
            let body = serde_json::json!({ "weight": args.weight }).to_string();
            (Method::PUT, "weight", Bytes::from(body))
        }
        a => (Method::POST, name(a), Bytes::new()),
    };
    let url = match args.action {
        Action::Status => format!("{base}/api/cutover{route}"),
        _ => format!("{base}/api/cutover/{path}{route}"),
    };
    let mut req = Request::builder().method(method).uri(&url);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .with_context(|| format!("{url} is not a usable URL"))?;
    let (status, body) = fetcher.send(req, Duration::from_secs(10)).await?;
    let answer: Value = serde_json::from_slice(&body)
        .with_context(|| format!("{url} answered {status} with no JSON"))?;
    if !status.is_success() {
        let why = answer["error"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| refusals(&answer));
        anyhow::bail!("{status}: {why}");
    }
    Ok(answer)
}

fn name(a: Action) -> &'static str {
    match a {
        Action::Abort => "abort",
        Action::Pause => "pause",
        Action::Resume => "resume",
        Action::Promote => "promote",
        Action::Status | Action::Weight => "",
    }
}

/// The per-route errors of a refused command.
fn refusals(answer: &Value) -> String {
    answer["routes"]
        .as_object()
        .map(|routes| {
            routes
                .values()
                .filter_map(|r| {
                    Some(format!(
                        "{}: {}",
                        r["route"].as_str()?,
                        r["error"].as_str()?
                    ))
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

fn print(admin: &str, args: &CtlArgs, answer: &Value) {
    if args.json {
        println!("{admin}: {answer}");
        return;
    }
    let routes: Vec<&Value> = match &answer["routes"] {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => o.values().collect(),
        _ => Vec::new(),
    };
    for r in routes {
        let mut line = format!(
            "{admin}: route {} {} {} weight {} % step {}",
            r["route"].as_str().unwrap_or("?"),
            r["mode"].as_str().unwrap_or("?"),
            r["state"].as_str().unwrap_or("-"),
            r["weight"],
            r["step"],
        );
        if let Some(gates) = r["gates"].as_array() {
            for g in gates {
                line.push_str(&format!(
                    "; {} {} ({} max {})",
                    g["gate"].as_str().unwrap_or("?"),
                    g["verdict"].as_str().unwrap_or("?"),
                    g["value"],
                    g["max"]
                ));
            }
        }
        if let Some(rb) = r["rollback"].as_object() {
            line.push_str(&format!(
                "; rolled back by {} at {}",
                rb.get("gate").and_then(Value::as_str).unwrap_or("?"),
                rb.get("value").unwrap_or(&Value::Null)
            ));
        }
        println!("{line}");
    }
}
