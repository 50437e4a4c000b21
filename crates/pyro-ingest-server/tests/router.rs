//! The router in-process (`tower::ServiceExt::oneshot`, no process, no port): status codes, error
//! bodies, the auth matrix, tenants, headers and the route labels of the request metrics. What
//! needs a process (signals, `kill -9`, ports, exit codes) stays in the process tests.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request};
use http_body_util::BodyExt;
use pyro_ingest_server::app;
use pyro_ingest_server::auth::{Scope, Tokens};
use pyro_ingest_server::state::{Config, DEFAULT_READ_NODES};
use tower::ServiceExt;

use common::{T0, gzip, multipart, push_body, temp_dir, tiny_pprof};

/// A router over a fresh store in its own directory.
struct App {
    router: Router,
    dir: std::path::PathBuf,
}

/// An answer: status, headers, body as text.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// The settings `serve` starts with (its flags' defaults), before a test changes some.
fn defaults() -> Config {
    Config {
        max_body: 64 << 20,
        limits: pyro_ingest::Limits::default(),
        auth: None,
        request_timeout: Duration::from_secs(60),
        multi_tenant: false,
        max_multipart_parts: pyro_ingest_server::body::DEFAULT_MAX_MULTIPART_PARTS,
        max_inflight_bytes: 1 << 30,
        forward: None,
        read_nodes: DEFAULT_READ_NODES,
    }
}

impl App {
    fn new(name: &str, config: Config) -> App {
        let dir = temp_dir(&format!("router-{name}"));
        let store = Arc::new(pyro_store::Store::open(&dir).unwrap());
        let writer =
            pyro_store::Writer::spawn(store.clone(), 64, pyro_store::WriterHooks::default())
                .unwrap();
        App {
            router: app::router(store, writer, config),
            dir,
        }
    }

    async fn call(&self, req: Request<Body>) -> Answer {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn get(&self, uri: &str, headers: &[(&str, &str)]) -> Answer {
        let mut r = Request::get(uri);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        self.call(r.body(Body::empty()).unwrap()).await
    }

    async fn post(&self, uri: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Answer {
        let mut r = Request::post(uri);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        self.call(r.body(body.into()).unwrap()).await
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pair(a: &Answer) -> (u16, &str) {
    (a.status, a.body.as_str())
}

#[tokio::test]
async fn error_statuses_and_bodies() {
    let mut config = defaults();
    config.max_body = 1000;
    config.limits.decompressed = 5000;
    let app = App::new("errors", config);
    let ingest = |q: &str| format!("/ingest?{q}");
    assert_eq!(
        pair(&app.post(&ingest("name=my%20app"), &[], "a 1").await),
        (
            400,
            "invalid parameter: \"name: invalid application name: my app: character is not allowed: ' '\"\n"
        )
    );
    assert_eq!(
        pair(&app.post(&ingest(""), &[], "a 1").await),
        (
            400,
            "invalid parameter: \"name: application name is required\"\n"
        )
    );
    let bad = app.post(&ingest("name=a"), &[], "a 1\nb x\n").await;
    assert_eq!(
        pair(&bad),
        (
            422,
            "error happened while parsing request body: \"invalid count \\\"x\\\" on line 2 (at offset 0x6)\"\n"
        )
    );
    assert_eq!(bad.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(
        app.post(&ingest("name=a&format=pprof"), &[], &b"\x0a\x05"[..])
            .await
            .status,
        422
    );
    assert_eq!(
        pair(
            &app.post(&ingest("name=a&format=jfr"), &[], &b"FLR\0"[..])
                .await
        ),
        (
            422,
            "error happened while parsing request body: \"unable to parse JFR format: unexpected end of input while reading chunk header (at offset 0x4)\"\n"
        )
    );
    assert_eq!(
        app.post(&ingest("name=a"), &[], vec![b'a'; 2000])
            .await
            .status,
        413
    );
    let bomb = gzip(&vec![b'a'; 100_000]);
    assert!(bomb.len() < 1000);
    let gz = [("content-encoding", "gzip")];
    assert_eq!(
        pair(&app.post(&ingest("name=a"), &gz, bomb).await),
        (413, "decompressed body exceeds the limit of 5000 bytes\n")
    );
    let not_gzip = app.post(&ingest("name=a"), &gz, "not gzip").await;
    assert_eq!(not_gzip.status, 400);
    assert!(not_gzip.body.starts_with("gzip: "), "{}", not_gzip.body);
    let (ct, body) = multipart(&[("other", b"x")]);
    let form = [("content-type", ct.as_str())];
    assert_eq!(app.post(&ingest("name=a"), &form, body).await.status, 200);
    assert_eq!(
        pair(
            &app.post(
                &ingest("name=a"),
                &[("content-type", "multipart/form-data")],
                "x"
            )
            .await
        ),
        (
            422,
            "error happened while parsing request body: \"malformed multipart content type header\"\n"
        )
    );
    let (ct, body) = multipart(&[("profile", b"x")]);
    let form = [("content-type", ct.as_str())];
    assert_eq!(
        pair(&app.post(&ingest("name=a&format=jfr"), &form, body).await),
        (
            422,
            "error happened while parsing request body: \"jfr field is required\"\n"
        )
    );
    assert_eq!(app.get("/ingest", &[]).await.status, 405);
    assert_eq!(app.get("/nowhere", &[]).await.status, 404);
    assert_eq!(
        pair(&app.get("/render", &[]).await),
        (
            400,
            "invalid parameter: \"'query' or 'name' parameter is required\"\n"
        )
    );
    assert_eq!(
        pair(&app.get("/render?query=a&format=html5", &[]).await),
        (400, "invalid parameter: \"unknown format\"\n")
    );
    assert_eq!(
        pair(&app.get("/render?query=%7Ba%7D", &[]).await),
        (
            400,
            "invalid parameter: \"query: application name is required\"\n"
        )
    );
    assert_eq!(
        pair(&app.get("/label-values", &[]).await),
        (400, "invalid parameter: \"label is required\"\n")
    );
    // Connect errors: JSON with the code, the status it maps to, nosniff.
    let push = app
        .post(
            "/push.v1.PusherService/Push",
            &[("content-type", "application/proto")],
            &b"\xff\xff"[..],
        )
        .await;
    assert_eq!(push.status, 400);
    assert!(
        push.body
            .starts_with(r#"{"code":"invalid_argument","message":"#),
        "{}",
        push.body
    );
    assert_eq!(push.header("content-type"), "application/json");
    assert_eq!(push.header("x-content-type-options"), "nosniff");
    let selector = app
        .post(
            "/querier.v1.QuerierService/LabelNames",
            &[("content-type", "application/json")],
            r#"{"matchers":["service_name=\"x\""]}"#,
        )
        .await;
    assert_eq!(selector.status, 400);
    assert!(
        selector
            .body
            .starts_with(r#"{"code":"invalid_argument","message":"invalid label selector"#),
        "{}",
        selector.body
    );
    // Nothing was stored by the failed requests.
    assert_eq!(
        pair(&app.get("/label-values?label=__name__", &[]).await),
        (200, "[]")
    );
}

/// The memory budget: a body that can never fit 413, one that does not fit now 503 with
/// `Retry-After`, and the budget back once the request holding it ends.
#[tokio::test]
async fn budget_refusals() {
    const BUDGET: usize = 1 << 20;
    let mut config = defaults();
    config.max_inflight_bytes = BUDGET;
    let app = App::new("budget", config);
    let big = app
        .post("/ingest?name=a.cpu", &[], vec![b'a'; 2 * BUDGET])
        .await;
    assert_eq!(
        pair(&big),
        (
            413,
            "request needs more memory than the server's --max-inflight-bytes\n"
        )
    );
    // A body that arrives up to the whole budget, then stalls, holds it.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
    let router = app.router.clone();
    let held = tokio::spawn(async move {
        router
            .oneshot(
                Request::post("/ingest?name=a.cpu")
                    .body(Body::from_stream(tokio_stream(rx)))
                    .unwrap(),
            )
            .await
            .unwrap()
            .status()
    });
    let chunk = bytes::Bytes::from(vec![b'a'; 64 << 10]);
    for _ in 0..BUDGET / chunk.len() - 1 {
        tx.send(Ok(chunk.clone())).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let busy = app.post("/ingest?name=a.cpu", &[], "a 1\n").await;
    assert_eq!(
        pair(&busy),
        (503, "server busy: too many bytes in flight, retry later\n")
    );
    assert_eq!(busy.header("retry-after"), "1");
    drop(tx);
    // The held body ends (960 KiB): its parse memory could never fit beside it (413), and
    // everything it held goes back.
    assert_eq!(held.await.unwrap(), 413);
    assert_eq!(
        app.post("/ingest?name=a.cpu", &[], "a 1\n").await.status,
        200
    );
}

/// A stream of the chunks sent on `rx`.
fn tokio_stream(
    mut rx: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

const TOKENS: &str = "admin admin-token\nagent agent-token\nreadonly viewer-token\n";

/// Who calls.
#[derive(Clone, Copy, Debug)]
enum Who {
    Nobody,
    Wrong,
    ReadOnly,
    Agent,
    Admin,
}

impl Who {
    fn header(self) -> Option<&'static str> {
        match self {
            Who::Nobody => None,
            Who::Wrong => Some("Bearer nope"),
            Who::ReadOnly => Some("Bearer viewer-token"),
            Who::Agent => Some("Bearer agent-token"),
            Who::Admin => Some("Bearer admin-token"),
        }
    }
}

/// Every endpoint family × every `--auth-scope` × every kind of caller: the status, the body
/// shape (OG's JSON errors or Connect's) and the Basic challenge of OG reads.
#[tokio::test]
async fn auth_matrix() {
    let tokens = Arc::new(Tokens::parse(TOKENS).unwrap());
    for scope in [Scope::All, Scope::Ingest, Scope::Read] {
        let mut config = defaults();
        config.auth = Some((tokens.clone(), scope));
        let app = App::new(&format!("auth-{scope:?}"), config);
        for who in [
            Who::Nobody,
            Who::Wrong,
            Who::ReadOnly,
            Who::Agent,
            Who::Admin,
        ] {
            let auth: Vec<(&str, &str)> = who
                .header()
                .map(|h| ("authorization", h))
                .into_iter()
                .collect();
            let ingest = app
                .post(&format!("/ingest?name=m.cpu&{T0}"), &auth, "a 1\n")
                .await;
            let mut push_headers = auth.clone();
            push_headers.push(("content-type", "application/proto"));
            let push = app
                .post(
                    "/push.v1.PusherService/Push",
                    &push_headers,
                    push_body("m", &[], tiny_pprof()),
                )
                .await;
            let render = app
                .get(&format!("/render?query=m.cpu&{T0}&format=collapsed"), &auth)
                .await;
            let labels = app.get("/labels", &auth).await;
            let page = app.get("/", &auth).await;
            let mut q_headers = auth.clone();
            q_headers.push(("content-type", "application/json"));
            let querier = app
                .post("/querier.v1.QuerierService/LabelNames", &q_headers, "{}")
                .await;
            let metrics = app.get("/metrics", &auth).await;
            let ingest_needs = matches!(scope, Scope::All | Scope::Ingest);
            let read_needs = matches!(scope, Scope::All | Scope::Read);
            // What each caller gets where a token is needed.
            let (ingest_want, read_want) = match who {
                Who::Nobody | Who::Wrong => (401, 401),
                Who::ReadOnly => (403, 200),
                Who::Agent | Who::Admin => (200, 200),
            };
            let ingest_want = if ingest_needs { ingest_want } else { 200 };
            let read_want = if read_needs { read_want } else { 200 };
            let ctx = format!("{scope:?} {who:?}");
            assert_eq!(ingest.status, ingest_want, "ingest {ctx}: {}", ingest.body);
            assert_eq!(push.status, ingest_want, "push {ctx}: {}", push.body);
            for (name, a) in [
                ("render", &render),
                ("labels", &labels),
                ("page", &page),
                ("querier", &querier),
                ("metrics", &metrics),
            ] {
                assert_eq!(a.status, read_want, "{name} {ctx}: {}", a.body);
            }
            match ingest_want {
                401 => {
                    assert_eq!(ingest.body, r#"{"errors":["invalid credentials"]}"#);
                    assert_eq!(
                        push.body,
                        r#"{"code":"unauthenticated","message":"invalid credentials"}"#
                    );
                    // Agents get no browser challenge.
                    assert_eq!(ingest.header("www-authenticate"), "");
                }
                403 => {
                    assert_eq!(ingest.body, r#"{"errors":["permission denied"]}"#);
                    assert_eq!(
                        push.body,
                        r#"{"code":"permission_denied","message":"permission denied"}"#
                    );
                }
                _ => {}
            }
            if read_want == 401 {
                for a in [&render, &labels, &page, &metrics] {
                    assert_eq!(a.body, r#"{"errors":["invalid credentials"]}"#, "{ctx}");
                    assert_eq!(
                        a.header("www-authenticate"),
                        r#"Basic realm="ingest-server", charset="UTF-8""#,
                        "{ctx}"
                    );
                }
                assert_eq!(
                    querier.body,
                    r#"{"code":"unauthenticated","message":"invalid credentials"}"#
                );
            }
        }
        // Basic auth carries the token as its password.
        let basic = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                "anyone:agent-token"
            )
        );
        let a = app
            .post(
                &format!("/ingest?name=m.cpu&{T0}"),
                &[("authorization", &basic)],
                "a 1\n",
            )
            .await;
        assert_eq!(a.status, 200, "{scope:?} basic");
    }
}

/// Tenants: `--multi-tenant` needs `X-Scope-OrgID` and keeps tenants apart; a token bound to
/// a tenant acts as that tenant only; `/metrics` refuses a bound token; without
/// `--multi-tenant` the header is ignored.
#[tokio::test]
async fn tenants_and_bound_tokens() {
    let mut config = defaults();
    config.multi_tenant = true;
    config.auth = Some((
        Arc::new(
            Tokens::parse("agent tok-a team-a\nagent tok-any\nreadonly ro-a team-a\n").unwrap(),
        ),
        Scope::All,
    ));
    let app = App::new("tenants", config);
    let ingest = format!("/ingest?name=shared.cpu&{T0}");
    let render = format!("/render?query=shared.cpu&{T0}&format=collapsed");
    let any = ("authorization", "Bearer tok-any");
    assert_eq!(
        pair(&app.post(&ingest, &[any], "a 1").await),
        (401, r#"{"errors":["no org id"]}"#)
    );
    for (team, stack) in [("team-a", "a;x 1"), ("team-b", "b;y 2")] {
        let h = [any, ("x-scope-orgid", team)];
        assert_eq!(app.post(&ingest, &h, stack).await.status, 200);
    }
    for (team, want) in [("team-a", "a;x 1\n"), ("team-b", "b;y 2\n"), ("team-c", "")] {
        let h = [any, ("x-scope-orgid", team)];
        assert_eq!(pair(&app.get(&render, &h).await), (200, want), "{team}");
    }
    // A bound token: its own tenant without the header, refused for another.
    let bound = ("authorization", "Bearer tok-a");
    assert_eq!(
        pair(
            &app.post(&ingest, &[bound, ("x-scope-orgid", "team-b")], "z 1")
                .await
        ),
        (403, r#"{"errors":["permission denied"]}"#)
    );
    assert_eq!(app.post(&ingest, &[bound], "a;x 2").await.status, 200);
    let ro = ("authorization", "Bearer ro-a");
    assert_eq!(pair(&app.get(&render, &[ro]).await), (200, "a;x 3\n"));
    assert_eq!(
        app.get(&render, &[ro, ("x-scope-orgid", "team-b")])
            .await
            .status,
        403
    );
    // /metrics counts every tenant: not for a bound token.
    let m = app
        .get("/metrics", &[ro, ("x-scope-orgid", "team-a")])
        .await;
    assert_eq!(
        pair(&m),
        (
            403,
            r#"{"errors":["metrics cover every tenant: use a token not bound to a tenant"]}"#
        )
    );
    assert_eq!(
        app.get("/metrics", &[any, ("x-scope-orgid", "team-a")])
            .await
            .status,
        200
    );

    // Single tenant: the header is accepted and ignored.
    let app = App::new("single-tenant", defaults());
    let h = [("x-scope-orgid", "team-a")];
    assert_eq!(app.post(&ingest, &h, "c 3").await.status, 200);
    assert_eq!(pair(&app.get(&render, &[]).await), (200, "c 3\n"));
}

/// Headers: the page, its assets, pprof downloads, JSON answers.
#[tokio::test]
async fn headers() {
    let app = App::new("headers", defaults());
    let page = app.get("/", &[]).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(page.header("cache-control"), "no-cache");
    // The UI's security headers: its own script, styles and requests only, never framed.
    assert_eq!(
        page.header("content-security-policy"),
        pyro_ingest_server::ui::PAGE_CSP
    );
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    assert_eq!(page.header("x-frame-options"), "DENY");
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    assert_eq!(
        app.get("/ui/app.js", &[]).await.header("content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        app.get("/ui/app.css", &[]).await.header("content-type"),
        "text/css; charset=utf-8"
    );
    assert_eq!(
        app.post(&format!("/ingest?name=h.cpu&{T0}"), &[], "a;b 1\n")
            .await
            .status,
        200
    );
    let pprof = app
        .get(&format!("/render?query=h.cpu&{T0}&format=pprof"), &[])
        .await;
    assert_eq!(pprof.header("content-type"), "application/octet-stream");
    assert_eq!(
        pprof.header("content-disposition"),
        "attachment; filename=\"h.cpu 2021-01-01T00:00:00Z.pprof\""
    );
    let json = app
        .get(&format!("/render?query=h.cpu&{T0}&format=json"), &[])
        .await;
    assert_eq!(json.header("content-type"), "application/json");
    assert_eq!(
        app.get("/labels", &[]).await.header("content-type"),
        "application/json"
    );
    let push = app
        .post(
            "/push.v1.PusherService/Push",
            &[("content-type", "application/json")],
            "{}",
        )
        .await;
    assert_eq!(pair(&push), (200, "{}"));
    assert_eq!(push.header("content-type"), "application/json");
    let html = app
        .get(&format!("/render?query=h.cpu&{T0}&format=html"), &[])
        .await;
    assert_eq!(
        html.header("content-security-policy"),
        pyro_ingest_server::ui::standalone_csp()
    );
    assert!(
        html.header("content-security-policy")
            .contains("script-src 'sha256-")
    );
    assert_eq!(html.header("x-frame-options"), "DENY");
    let svg = app
        .get(&format!("/render?query=h.cpu&{T0}&format=svg"), &[])
        .await;
    assert_eq!(svg.header("content-type"), "image/svg+xml");
    assert!(svg.body.contains("<svg"), "{}", svg.body);
}

/// Every route is counted under its own path (querier methods, `/render-diff`, the page),
/// unknown paths under one label.
#[tokio::test]
async fn requests_are_counted_by_route() {
    let app = App::new("routes", defaults());
    app.get(
        "/render-diff?leftQuery=a.cpu&rightQuery=a.cpu&leftFrom=1&rightFrom=1",
        &[],
    )
    .await;
    app.post(
        "/querier.v1.QuerierService/LabelNames",
        &[("content-type", "application/json")],
        "{}",
    )
    .await;
    app.get("/", &[]).await;
    app.get("/no/such/path", &[]).await;
    app.get("/another-unknown", &[]).await;
    let m = app.get("/metrics", &[]).await.body;
    for want in [
        r#"pyro_requests_total{route="/render-diff",format="",status="200"} 1"#,
        r#"pyro_requests_total{route="/querier.v1.QuerierService/LabelNames",format="",status="200"} 1"#,
        r#"pyro_requests_total{route="/",format="",status="200"} 1"#,
        r#"pyro_requests_total{route="unmatched",format="",status="404"} 2"#,
    ] {
        assert!(m.contains(want), "{want} not in\n{m}");
    }
    assert!(!m.contains(r#"route="/no/such/path""#));
}

/// Grafana Pyroscope's calls this server does not serve answer a Connect `unimplemented` with
/// the reason; `/api/v1/status/buildinfo` answers as GP's status service (pkg/pyroscope/modules.go
/// `GetBuildInfo`, through grpc-gateway: every field written).
#[tokio::test]
async fn unserved_calls_say_so_and_buildinfo() {
    let app = App::new("unserved", defaults());
    for path in [
        "/settings.v1.SettingsService/Set",
        "/settings.v1.RecordingRulesService/ListRecordingRules",
    ] {
        let a = app
            .post(path, &[("content-type", "application/json")], "{}")
            .await;
        assert_eq!(a.status, 404, "{path}");
        let v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["code"], "unimplemented", "{path}");
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    let b = app.get("/api/v1/status/buildinfo", &[]).await;
    assert_eq!(b.status, 200);
    let v: serde_json::Value = serde_json::from_str(&b.body).unwrap();
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["version"], env!("CARGO_PKG_VERSION"));
    for k in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(v["data"][k].is_string(), "{k}");
    }
}
