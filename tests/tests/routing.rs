//! Routes and sampling: first match wins, the rest fall to `default`; keyed sampling gives the
//! same answer for the same key every time.

use bytes::Bytes;
use http::Method;
use http_body_util::Full;
use shadowdiff_e2e::{client, get, TestProxy, Upstream};

const ROUTES: &str = r#"
mirror_percent = 100

[[routes]]
name = "order_items"
path_template = "/orders/{id}/items"

[[routes]]
name = "orders"
path_prefix = "/orders"
methods = ["GET"]

[[routes]]
name = "orders_shadowed_too"
path_prefix = "/orders"
"#;

#[tokio::test]
async fn first_matching_route_wins_and_names_the_series() {
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::json("{}").await;
    let proxy = TestProxy::start(&v1.url(), &v2.url(), ROUTES).await;
    get(&proxy.url("/orders/7/items")).await;
    get(&proxy.url("/orders/7")).await;
    get(&proxy.url("/orders")).await;
    get(&proxy.url("/users/1")).await;
    let req = http::Request::builder()
        .method(Method::DELETE)
        .uri(proxy.url("/orders/7"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    client().request(req).await.unwrap();
    proxy.settle().await;
    let m = proxy.metrics().await;
    let requests = |r| m.value("shadowdiff_requests_total", &[("route", r)]);
    assert_eq!(
        requests("order_items"),
        1.0,
        "the template is more specific and listed first"
    );
    assert_eq!(requests("orders"), 2.0, "GET /orders/7 and GET /orders");
    assert_eq!(
        requests("orders_shadowed_too"),
        1.0,
        "DELETE fails the methods condition of `orders`"
    );
    assert_eq!(requests("default"), 1.0);
    assert_eq!(
        m.value(
            "shadowdiff_mirror_skipped_total",
            &[
                ("route", "orders_shadowed_too"),
                ("reason", "unsafe_method")
            ]
        ),
        1.0
    );
    proxy.running.shutdown().await;
}

#[tokio::test]
async fn keyed_sampling_is_deterministic_per_key() {
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::json("{}").await;
    let proxy = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 30\nsample_by = \"header:x-user\"",
    )
    .await;
    let c = client();
    let users = 200;
    // Every user sends five requests; a user's requests are all mirrored or none are.
    for round in 0..5 {
        for u in 0..users {
            let req = http::Request::builder()
                .uri(proxy.url(&format!("/r/{round}")))
                .header("x-user", format!("user-{u}"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            c.request(req).await.unwrap();
        }
    }
    proxy.settle().await;
    let mut per_user = std::collections::HashMap::<String, usize>::new();
    for s in v2.seen() {
        *per_user
            .entry(s.headers["x-user"].to_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(
        per_user.values().all(|&n| n == 5),
        "a sampled user is mirrored every time: {per_user:?}"
    );
    let share = per_user.len() as f64 / users as f64;
    assert!(
        (0.18..=0.42).contains(&share),
        "about 30 % of users sampled, got {share}"
    );

    // The decision is a pure function of the key: a second proxy agrees.
    let proxy2 = TestProxy::start(
        &v1.url(),
        &v2.url(),
        "mirror_percent = 30\nsample_by = \"header:x-user\"",
    )
    .await;
    let before = v2.hits();
    for u in 0..users {
        let req = http::Request::builder()
            .uri(proxy2.url("/again"))
            .header("x-user", format!("user-{u}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        c.request(req).await.unwrap();
    }
    proxy2.settle().await;
    let again: std::collections::HashSet<String> = v2.seen()[before..]
        .iter()
        .map(|s| s.headers["x-user"].to_str().unwrap().to_string())
        .collect();
    let first: std::collections::HashSet<String> = per_user.into_keys().collect();
    assert_eq!(again, first);
    proxy.running.shutdown().await;
    proxy2.running.shutdown().await;
}

#[tokio::test]
async fn a_route_in_flight_cap_keeps_a_slow_route_from_taking_every_slot() {
    let v1 = Upstream::json("{}").await;
    let v2 = Upstream::start(|s: shadowdiff_e2e::Seen| async move {
        if s.path.starts_with("/slow") {
            tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        }
        shadowdiff_e2e::json("{}")
    })
    .await;
    let extra = "mirror_percent = 100\n[[routes]]\nname = \"slow\"\npath_prefix = \"/slow\"\nmax_in_flight_mirrors = 2\n";
    let proxy = TestProxy::start(&v1.url(), &v2.url(), extra).await;
    for _ in 0..6 {
        assert_eq!(get(&proxy.url("/slow")).await.0, 200);
    }
    for _ in 0..6 {
        get(&proxy.url("/fast")).await;
    }
    proxy.settle().await;
    let m = proxy.metrics().await;
    let skipped = |r| m.skipped(r, "overloaded");
    assert_eq!(
        skipped("slow"),
        4.0,
        "two slots for the slow route, the rest shed"
    );
    assert_eq!(
        m.value("shadowdiff_mirrored_requests_total", &[("route", "slow")]),
        2.0
    );
    assert_eq!(
        skipped("default"),
        0.0,
        "other routes keep their share of the global cap"
    );
    assert_eq!(
        m.value(
            "shadowdiff_mirrored_requests_total",
            &[("route", "default")]
        ),
        6.0
    );
    proxy.running.shutdown().await;
}
