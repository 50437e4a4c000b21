//! The UI in a real browser: headless Chromium driven over WebDriver (`chromedriver`, Debian's
//! `chromium-driver`), against the real server binary. Without `chromium` and `chromedriver` on
//! the PATH the browser test says it skipped and passes; `.ci/run` installs both.
//!
//! Screenshots of every state go to `<target>/tmp/ui-screenshots/`. The 100,000-node figures
//! are printed, not asserted (run with `--release --nocapture` for representative numbers).

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Server, agent, get, post, temp_dir};
use serde_json::{Value, json};

/// A WebDriver session on a chromedriver child process.
struct Browser {
    driver: Child,
    base: String,
    session: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session, or `None` (with the reason) when
    /// either is not installed.
    fn start() -> Result<Browser, String> {
        let chromium = ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .find_map(|c| which(c))
            .ok_or("no chromium on the PATH")?;
        let driver_bin = which("chromedriver").ok_or("no chromedriver on the PATH")?;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("chromedriver: {e}"))?;
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent().get(&format!("{base}/status")).call().is_err() {
            if Instant::now() > deadline {
                return Err("chromedriver did not start".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000",
                         "--force-device-scale-factor=1"],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let created = b.call("POST", "/session", Some(caps))?;
        b.session = created["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session: {created}"))?
            .to_owned();
        Ok(b)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let a = agent();
        let mut resp = match method {
            "GET" => a.get(&url).call(),
            "DELETE" => a.delete(&url).call(),
            _ => a
                .post(&url)
                .header("Content-Type", "application/json")
                .send(body.unwrap_or(json!({})).to_string().as_bytes()),
        }
        .map_err(|e| format!("{method} {path}: {e}"))?;
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if resp.status().as_u16() != 200 {
            return Err(format!("{method} {path}: {v}"));
        }
        Ok(v["value"].clone())
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body) in the page and returns its value.
    fn js(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Polls `script` until it returns a truthy value.
    fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.js(script);
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; status: {}",
                self.js("return document.getElementById('status').textContent")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn element(&self, css: &str) -> String {
        let v = self.session_call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.session_call("POST", &format!("/element/{id}/click"), None);
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.session_call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// A real pointer click at `(x, y)` CSS pixels from the top left of the element `css`.
    fn click_at(&self, css: &str, x: f64, y: f64) {
        let (left, top) = self.origin(css);
        self.pointer(&[(left + x, top + y)], true);
    }

    /// Pointer actions in viewport coordinates: `moves` visited in order, the button held
    /// from the first to the last when `drag` (one point and `drag` is a click).
    fn pointer(&self, moves: &[(f64, f64)], drag: bool) {
        let mut actions = Vec::new();
        for (i, (x, y)) in moves.iter().enumerate() {
            actions.push(
                json!({"type": "pointerMove", "duration": 0, "origin": "viewport",
                "x": x.round() as i64, "y": y.round() as i64}),
            );
            if drag && i == 0 {
                actions.push(json!({"type": "pointerDown", "button": 0}));
            }
        }
        if drag {
            actions.push(json!({"type": "pointerUp", "button": 0}));
        }
        self.session_call(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "pointer", "id": "mouse",
                "parameters": {"pointerType": "mouse"}, "actions": actions}]})),
        );
    }

    /// The top left of element `css` in the viewport.
    fn origin(&self, css: &str) -> (f64, f64) {
        let at = self.js(&format!(
            "const r = document.querySelector('{css}').getBoundingClientRect(); return [r.left, r.top];"
        ));
        (at[0].as_f64().unwrap(), at[1].as_f64().unwrap())
    }

    /// The browser console's errors since the last call.
    fn console_errors(&self) -> Vec<String> {
        let logs = self.session_call("POST", "/se/log", Some(json!({"type": "browser"})));
        logs.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.session_call("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .unwrap();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
        path
    }

    /// The colour drawn at `(x, y)` CSS pixels of the canvas `css` (device pixel ratio 1).
    fn pixel(&self, css: &str, x: f64, y: f64) -> [u8; 3] {
        let v = self.js(&format!(
            "const c = document.querySelector('{css}'); const r = devicePixelRatio || 1;
             return Array.from(c.getContext('2d').getImageData(Math.round({x} * r), Math.round({y} * r), 1, 1).data);"
        ));
        let n = |i: usize| v[i].as_u64().unwrap() as u8;
        [n(0), n(1), n(2)]
    }

    /// Centre of the first frame named `name` in the flamegraph, in canvas CSS pixels.
    fn frame_centre(&self, name: &str) -> (f64, f64, f64) {
        let b = self.js(&format!("return window.flame.box({name:?});"));
        assert!(!b.is_null(), "no frame {name} drawn");
        let f = |k: &str| b[k].as_f64().unwrap();
        (f("x") + f("w") / 2.0, f("y") + f("h") / 2.0, f("w"))
    }

    fn table(&self) -> Vec<Vec<String>> {
        let v = self.js(
            "return Array.from(document.querySelectorAll('#fn-table tbody tr'))
               .map(tr => Array.from(tr.cells).map(td => td.textContent));",
        );
        serde_json::from_value(v).unwrap()
    }

    fn text(&self, css: &str) -> String {
        self.js(&format!(
            "return document.querySelector('{css}').textContent;"
        ))
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(bin))
            .find(|p| p.is_file())
    })
}

fn ingest(s: &Server, name: &str, extra: &str, body: &str) {
    let (status, text) = post(
        &s.url(&format!(
            "/ingest?name={name}&from=now-120s&until=now-110s{extra}"
        )),
        None,
        &[],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{text}");
}

fn enc(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn rows(v: &[&[&str]]) -> Vec<Vec<String>> {
    v.iter()
        .map(|r| r.iter().map(|c| (*c).to_owned()).collect())
        .collect()
}

#[test]
fn flamegraph_ui_in_headless_chromium() {
    let browser = match Browser::start() {
        Ok(b) => b,
        Err(why) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the browser test: {why}"
            );
            eprintln!(
                "skipped: the browser test needs chromium and chromedriver ({why}); \
                 apt-get install -y chromium chromium-driver"
            );
            return;
        }
    };
    let dir = temp_dir("ui-browser");
    let s = Server::start(&dir, &[]);
    ingest(
        &s,
        "shop.cpu{env=prod}",
        "&sampleRate=100",
        "main;work;compute 30\nmain;idle 10\nmain;work;io 5\n",
    );
    ingest(
        &s,
        "shop.cpu{env=canary}",
        "&sampleRate=100",
        "main;work;compute 60\nmain;idle 10\nmain;work;io 5\n",
    );
    ingest(
        &s,
        "shop.alloc_space{env=prod}",
        "&units=bytes",
        "main;alloc;grow 2048\nmain;parse 1024\n",
    );

    // 1. The page loads with no console error and draws the first series.
    browser.goto(&s.url(&format!(
        "/?query={}&from=now-1h&until=now",
        enc("shop.cpu{}")
    )));
    browser.wait_for(
        "the function table",
        "return document.querySelectorAll('#fn-table tbody tr').length",
    );
    assert_eq!(
        browser.table(),
        rows(&[
            &["compute", "900 ms (75.00%)", "900 ms (75.00%)"],
            &["idle", "200 ms (16.67%)", "200 ms (16.67%)"],
            &["io", "100 ms (8.33%)", "100 ms (8.33%)"],
            &["main", "0 s (0.00%)", "1.2 s (100.00%)"],
            &["work", "0 s (0.00%)", "1 s (83.33%)"],
        ])
    );
    assert!(browser.text("#status").starts_with("1.2 s · 6 nodes"));
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    println!("screenshot {}", browser.screenshot("1-loaded").display());

    // Hovering a frame shows its values in the series' units (CPU samples as time).
    let (fx, fy) = browser.origin("#flame");
    let (cx, cy, _) = browser.frame_centre("compute");
    browser.pointer(&[(fx + cx, fy + cy)], false);
    browser.wait_for(
        "the tooltip",
        "return !document.getElementById('tooltip').hidden",
    );
    assert_eq!(
        browser.text("#tooltip"),
        "compute\nself:  900 ms (75.00%)\ntotal: 900 ms (75.00%)"
    );

    // 2. Clicking a frame zooms: `work` fills the width, `compute` 90 % of it.
    let (x, y, _) = browser.frame_centre("work");
    browser.click_at("#flame", x, y);
    browser.wait_for("the zoom", "return window.flame.zoomed === 'work'");
    assert_eq!(browser.text("#zoom-name"), "work");
    let width = browser
        .js("return document.getElementById('flame').clientWidth")
        .as_f64()
        .unwrap();
    let (_, _, work_w) = browser.frame_centre("work");
    let (_, _, compute_w) = browser.frame_centre("compute");
    assert!((work_w - width).abs() < 1.0, "{work_w} vs {width}");
    assert!(
        (compute_w / width - 0.9).abs() < 0.01,
        "{compute_w} of {width}"
    );
    println!("screenshot {}", browser.screenshot("2-zoomed").display());
    browser.click("#reset");
    browser.wait_for("the reset", "return window.flame.zoomed === null");

    // 3. Search highlights the matches and says what share they hold.
    browser.type_into("#search", "comp");
    browser.wait_for(
        "the search",
        "return document.getElementById('search-result').textContent",
    );
    assert_eq!(
        browser.text("#search-result"),
        "1 matching function · 75.00% of total"
    );
    let (cx, cy, _) = browser.frame_centre("compute");
    let (ix, iy, _) = browser.frame_centre("idle");
    assert_eq!(browser.pixel("#flame", cx, cy), [0xe0, 0x47, 0x9e]);
    assert_eq!(browser.pixel("#flame", ix, iy), [0xe3, 0xe5, 0xea]);
    assert!(
        browser
            .js("return location.search")
            .as_str()
            .unwrap()
            .contains("search=comp")
    );
    println!("screenshot {}", browser.screenshot("3-search").display());

    // 4. Picking another series redraws the flamegraph and the table, in bytes.
    browser.click("#app option[value='shop.alloc_space']");
    browser.wait_for(
        "the alloc series",
        "return Array.from(document.querySelectorAll('#fn-table tbody td')).some(td => td.textContent === 'grow')",
    );
    browser.js("document.getElementById('search').value = ''; document.getElementById('search').dispatchEvent(new Event('input'));");
    assert_eq!(
        browser.table(),
        rows(&[
            &["grow", "2 KiB (66.67%)", "2 KiB (66.67%)"],
            &["parse", "1 KiB (33.33%)", "1 KiB (33.33%)"],
            &["main", "0 B (0.00%)", "3 KiB (100.00%)"],
            &["alloc", "0 B (0.00%)", "2 KiB (66.67%)"],
        ])
    );
    println!("screenshot {}", browser.screenshot("4-series").display());

    // Dragging across the timeline narrows the range to absolute times, kept in the URL.
    let (tx, ty) = browser.origin("#timeline");
    let tw = browser
        .js("return document.getElementById('timeline').clientWidth")
        .as_f64()
        .unwrap();
    browser.pointer(
        &[(tx + tw * 0.5, ty + 30.0), (tx + tw * 0.99, ty + 30.0)],
        true,
    );
    let url = browser.wait_for(
        "the narrowed range",
        "return /from=\\d+&until=\\d+/.test(location.search) && location.search",
    );
    let url = url.as_str().unwrap();
    let num = |k: &str| -> i64 {
        url.split(&format!("{k}="))
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (from, until) = (num("from"), num("until"));
    assert!(
        (from - (now - 1800)).abs() < 120 && (until - now).abs() < 120,
        "{from}..{until} around {now}"
    );
    browser.wait_for(
        "the table after narrowing",
        "return Array.from(document.querySelectorAll('#fn-table tbody td')).some(td => td.textContent === 'grow')",
    );
    assert_eq!(
        browser.table()[0][0],
        "grow",
        "the data, 2 minutes old, is still in range"
    );

    // 5. Tags: the share of each `env` value.
    browser.goto(&s.url(&format!(
        "/?query={}&from=now-1h&until=now&view=tags&groupBy=env",
        enc("shop.cpu{}")
    )));
    browser.wait_for(
        "the tag table",
        "return document.querySelectorAll('#tag-table tbody tr').length === 2",
    );
    let tags = browser.js(
        "return Array.from(document.querySelectorAll('#tag-table tbody tr')).map(tr => tr.innerText.replace(/\\s+/g, ' ').trim());",
    );
    assert_eq!(tags, json!(["canary 750 ms 62.50%", "prod 450 ms 37.50%"]));
    println!("screenshot {}", browser.screenshot("5-tags").display());

    // 6. Diff: prod against canary colours `compute` (a larger share on the right) red and
    // `idle` green, in the flamegraph and in the table.
    browser.goto(&s.url(&format!(
        "/?query={q}&view=diff&leftQuery={l}&rightQuery={r}&leftFrom=now-1h&leftUntil=now&rightFrom=now-1h&rightUntil=now",
        q = enc("shop.cpu{}"),
        l = enc("shop.cpu{env=\"prod\"}"),
        r = enc("shop.cpu{env=\"canary\"}"),
    )));
    browser.wait_for(
        "the diff table",
        "return document.querySelectorAll('#fn-table tbody td.worse').length",
    );
    let table = browser.table();
    let row = |name: &str| table.iter().find(|r| r[0] == name).unwrap().clone();
    assert_eq!(row("compute"), ["compute", "300 ms", "600 ms", "+13.33 pt"]);
    assert_eq!(row("idle"), ["idle", "100 ms", "100 ms", "-8.89 pt"]);
    let class = |name: &str| {
        browser.js(&format!(
            "return Array.from(document.querySelectorAll('#fn-table tbody tr')).find(tr => tr.cells[0].textContent === '{name}').cells[3].className;"
        ))
    };
    assert_eq!(class("compute"), "worse");
    assert_eq!(class("idle"), "better");
    let (cx, cy, _) = browser.frame_centre("compute");
    let [r, g, b] = browser.pixel("#flame", cx, cy);
    assert!(r > 200 && g < 210 && g == b, "compute drawn as {r},{g},{b}");
    let (ix, iy, _) = browser.frame_centre("idle");
    let [r, g, b] = browser.pixel("#flame", ix, iy);
    assert!(g > r && r == b, "idle drawn as {r},{g},{b}");
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    println!("screenshot {}", browser.screenshot("6-diff").display());

    // 7. The standalone page (`format=html`) draws without the server's other endpoints.
    browser.goto(&s.url(&format!(
        "/render?query={}&from=now-1h&until=now&format=html",
        enc("shop.cpu{}")
    )));
    browser.wait_for(
        "the standalone table",
        "return document.querySelectorAll('#fn-table tbody tr').length === 5",
    );
    assert_eq!(
        browser.table()[0],
        ["compute", "900 ms (75.00%)", "900 ms (75.00%)"]
    );
    println!(
        "screenshot {}",
        browser.screenshot("7-standalone").display()
    );

    // A frame name that would end or hide the script element in a naive page still reads back.
    ingest(&s, "odd.cpu", "", "main;x</script><!--<script>y 2\n");
    browser.goto(&s.url(&format!(
        "/render?query={}&from=now-1h&until=now&format=html",
        enc("odd.cpu{}")
    )));
    browser.wait_for(
        "the odd standalone table",
        "return document.querySelectorAll('#fn-table tbody tr').length === 2",
    );
    assert_eq!(browser.table()[0][0], "x</script><!--<script>y");

    // 8. 100,000 nodes, truncation raised: printed figures.
    let mut folded = String::new();
    for i in 0..100_000u32 {
        folded.push_str(&format!(
            "root;svc{};mod{};fn{};leaf{i} {}\n",
            i % 50,
            i % 500,
            i % 5000,
            1 + i % 7
        ));
    }
    ingest(&s, "big.cpu", "&sampleRate=100", &folded);
    let t = Instant::now();
    let (status, body) = get(&s.url(&format!(
        "/render?query={}&from=now-1h&until=now&format=json&maxNodes=200000",
        enc("big.cpu{}")
    )));
    let render_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(status, 200);
    browser.goto(&s.url(&format!(
        "/?query={}&from=now-1h&until=now&maxNodes=200000",
        enc("big.cpu{}")
    )));
    let nodes = browser.wait_for(
        "the big flamegraph",
        "return window.flame.nodes > 100000 && window.flame.nodes",
    );
    let draw_ms = browser
        .js("return window.flame.lastDrawMs")
        .as_f64()
        .unwrap();
    // Flatten, draw and fill the table, as the page measures it.
    let ready = browser.text("#status");
    let ready = ready
        .split("page ready in ")
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches(" ms");
    let redraw_ms = browser
        .js("window.dispatchEvent(new Event('resize')); return window.flame.lastDrawMs")
        .as_f64()
        .unwrap();
    let hover_ms = browser.js(
        "const c = document.getElementById('flame'); const t = performance.now();
         for (let i = 0; i < 100; i++) c.dispatchEvent(new MouseEvent('mousemove', {clientX: c.getBoundingClientRect().left + i * 7, clientY: c.getBoundingClientRect().top + 60}));
         return (performance.now() - t) / 100;",
    );
    let (x, y, _) = browser.frame_centre("svc7");
    browser.click_at("#flame", x, y);
    browser.wait_for("the big zoom", "return window.flame.zoomed === 'svc7'");
    let zoom_ms = browser
        .js("return window.flame.lastDrawMs")
        .as_f64()
        .unwrap();
    let code = pyro_ingest_server::ui::INDEX_HTML.len()
        + pyro_ingest_server::ui::APP_JS.len()
        + pyro_ingest_server::ui::APP_CSS.len();
    println!(
        "ui figures: {nodes} nodes; /render JSON {render_ms:.0} ms ({} bytes); first draw {draw_ms:.1} ms; \
         page ready (flatten, draw, table) {ready} ms; \
         redraw {redraw_ms:.1} ms; \
         hover {hover_ms:.2} ms per event; zoomed redraw {zoom_ms:.1} ms; page code {code} bytes",
        body.len()
    );
    assert!(code < 150 * 1024, "page code {code} bytes");
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    println!(
        "screenshot {}",
        browser.screenshot("8-100k-nodes").display()
    );
}

#[test]
fn read_auth_challenges_the_browser_and_keeps_the_json_body() {
    let dir = temp_dir("ui-auth");
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, "admin s3cret\n").unwrap();
    let s = Server::start(
        &dir.join("data"),
        &["--auth-tokens", tokens.to_str().unwrap()],
    );
    for path in [
        "/",
        "/render?query=a.cpu%7B%7D&format=json",
        "/label-values?label=__name__",
    ] {
        let resp = agent().get(&s.url(path)).call().unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{path}");
        assert_eq!(
            resp.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some(r#"Basic realm="ingest-server", charset="UTF-8""#),
            "{path}"
        );
    }
    let (status, body) = get(&s.url("/"));
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"errors":["invalid credentials"]}"#)
    );
    // What the browser sends after its prompt: any user, the token as the password.
    let basic = base64::engine::general_purpose::STANDARD.encode("me:s3cret");
    let mut resp = agent()
        .get(&s.url("/"))
        .header("Authorization", format!("Basic {basic}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let page = resp.body_mut().read_to_string().unwrap();
    assert!(page.contains("ui/app.js") && !page.contains("s3cret"));
    // Ingest refusals stay as they were (agents do not prompt).
    let resp = agent()
        .post(&s.url("/ingest?name=a.cpu"))
        .send(&b"a 1\n"[..])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers().get("www-authenticate").is_none());
    // The assets carry no data and need no credentials.
    let (status, js) = get(&s.url("/ui/app.js"));
    assert_eq!(status, 200);
    assert!(js.contains("class Flame"));
}

#[test]
fn svg_and_html_renders_and_render_diff() {
    let dir = temp_dir("ui-svg");
    let s = Server::start(&dir, &[]);
    ingest(
        &s,
        "svg.cpu{env=a}",
        "&sampleRate=100",
        "main;work 30\nmain;idle 10\n",
    );
    ingest(
        &s,
        "svg.cpu{env=b}",
        "&sampleRate=100",
        "main;work 10\nmain;idle 10\n",
    );
    let q = enc("svg.cpu{}");
    let resp = agent()
        .get(&s.url(&format!(
            "/render?query={q}&from=now-1h&until=now&format=svg"
        )))
        .call()
        .unwrap();
    assert_eq!(
        resp.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap(),
        "image/svg+xml"
    );
    let (_, svg) = get(&s.url(&format!(
        "/render?query={q}&from=now-1h&until=now&format=svg"
    )));
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
    // inferno's titles: name, value in the series' units, share.
    assert!(
        svg.contains("<title>work (40 samples, 66.67%)</title>"),
        "{svg}"
    );
    assert!(svg.contains("<title>idle (20 samples, 33.33%)</title>"));
    // No data: still an SVG, saying so.
    let (status, empty) = get(&s.url(&format!(
        "/render?query={}&from=now-1h&until=now&format=svg",
        enc("none.cpu{}")
    )));
    assert_eq!(status, 200);
    assert!(empty.contains("no data in this range"));
    // html: the page with the answer inlined, no asset to fetch.
    let (status, html) = get(&s.url(&format!(
        "/render?query={q}&from=now-1h&until=now&format=html"
    )));
    assert_eq!(status, 200);
    assert!(html.contains(r#"<script id="preload" type="application/json">{"version":1,"flamebearer":{"names":["total","main","work","idle"]"#), "{html}");
    assert!(!html.contains("src=\"ui/app.js\"") && !html.contains("href=\"ui/app.css\""));
    // render-diff: OG's double flamebearer.
    let (status, diff) = get(&s.url(&format!(
        "/render-diff?leftQuery={}&rightQuery={}&leftFrom=now-1h&leftUntil=now&rightFrom=now-1h&rightUntil=now",
        enc("svg.cpu{env=\"a\"}"),
        enc("svg.cpu{env=\"b\"}")
    )));
    assert_eq!(status, 200, "{diff}");
    let v: Value = serde_json::from_str(&diff).unwrap();
    assert_eq!(v["metadata"]["format"], "double");
    assert_eq!(
        (v["leftTicks"].clone(), v["rightTicks"].clone()),
        (json!(40), json!(20))
    );
    assert_eq!(
        v["flamebearer"]["names"],
        json!(["total", "main", "work", "idle"])
    );
    assert_eq!(
        v["flamebearer"]["levels"],
        json!([
            [0, 40, 0, 0, 20, 0, 0],
            [0, 40, 0, 0, 20, 0, 1],
            [0, 10, 10, 0, 10, 10, 3, 0, 30, 30, 0, 10, 10, 2]
        ])
    );
    let (status, err) = get(&s.url("/render-diff?rightQuery=a.cpu%7B%7D"));
    assert_eq!(
        (status, err.as_str()),
        (
            400,
            "invalid parameter: \"'leftQuery' or 'leftName' parameter is required\"\n"
        )
    );
    let (status, _) = get(&s.url(&format!("/render?query={q}&format=png")));
    assert_eq!(status, 400);
}

/// Issue 31, item 1 (and the microsecond unit of item 6): an empty server, a range without data
/// and an unknown series each say what is missing and what to do, in the status line, instead of
/// a raw 400 or a blank area; a series in microseconds reads as time.
#[test]
fn empty_states_say_what_to_do() {
    let browser = match Browser::start() {
        Ok(b) => b,
        Err(why) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the browser test: {why}"
            );
            eprintln!("skipped: the browser test needs chromium and chromedriver ({why})");
            return;
        }
    };
    let dir = temp_dir("ui-empty");
    let s = Server::start(&dir, &[]);
    let status = "return document.getElementById('status').textContent";
    let class = "return document.getElementById('status').className";
    browser.goto(&s.url("/"));
    let text = browser.wait_for(
        "the empty-server message",
        &format!("const t = (() => {{ {status} }})(); return t.startsWith('No profiles') && t"),
    );
    assert!(
        text.as_str().unwrap().contains("/ingest?name=myapp.cpu"),
        "{text}"
    );
    browser.screenshot("11-empty-server");
    assert_eq!(browser.js(class), "");
    // Data, but only long ago.
    let (code, msg) = post(
        &s.url("/ingest?name=old.cpu&from=1609459200"),
        None,
        &[],
        b"main;work 3\n",
    );
    assert_eq!(code, 200, "{msg}");
    browser.goto(&s.url(&format!(
        "/?query={}&from=now-1h&until=now",
        enc("old.cpu{}")
    )));
    let text = browser.wait_for(
        "the empty-range message",
        &format!("const t = (() => {{ {status} }})(); return t.startsWith('No data') && t"),
    );
    assert_eq!(
        text,
        "No data for old.cpu between now-1h and now (times in UTC): widen the range (e.g. from \
         now-7d) or pick another series."
    );
    // A series the server does not have.
    browser.goto(&s.url(&format!(
        "/?query={}&from=now-1h&until=now",
        enc("ghost.cpu{}")
    )));
    let text = browser.wait_for(
        "the unknown-series message",
        &format!("const t = (() => {{ {status} }})(); return t.startsWith('No series') && t"),
    );
    assert_eq!(
        text,
        "No series named ghost.cpu is stored: pick one of the 1 in the list."
    );
    assert_eq!(browser.js(class), "error");
    browser.screenshot("12-unknown-series");
    // Microseconds read as time (17,830,000 µs is 17.83 s).
    ingest(
        &s,
        "micro.cpu",
        "&units=microseconds",
        "main;work 17830000\n",
    );
    browser.goto(&s.url(&format!(
        "/?query={}&from=now-1h&until=now",
        enc("micro.cpu{}")
    )));
    browser.wait_for(
        "the function table",
        "return document.querySelectorAll('#fn-table tbody tr').length",
    );
    let table = browser.table();
    assert!(
        table
            .iter()
            .any(|r| r[0] == "work" && r[1] == "17.83 s (100.00%)"),
        "{table:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 31, items 4 and 6 (part): on a phone (390×844) the flamegraph gets the width and the
/// table goes below it; the status line stays in view on a page taller than the screen; the
/// timeline says its times are UTC.
#[test]
fn phones_status_in_view_and_utc_timeline() {
    let browser = match Browser::start() {
        Ok(b) => b,
        Err(why) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the browser test: {why}"
            );
            eprintln!("skipped: the browser test needs chromium and chromedriver ({why})");
            return;
        }
    };
    let dir = temp_dir("ui-phone");
    let s = Server::start(&dir, &[]);
    let stacks: String = (0..60).map(|i| format!("main;f{i} {}\n", i + 1)).collect();
    ingest(&s, "phone.cpu", "&sampleRate=100", &stacks);
    browser.session_call(
        "POST",
        "/window/rect",
        Some(json!({"width": 390, "height": 844})),
    );
    browser.goto(&s.url(&format!(
        "/?query={}&from=now-1h&until=now",
        enc("phone.cpu{}")
    )));
    browser.wait_for(
        "the function table",
        "return document.querySelectorAll('#fn-table tbody tr').length",
    );
    let layout = browser.js(
        "const w = (id) => document.getElementById(id).getBoundingClientRect();
         return {inner: innerWidth, flame: w('flame').width, table: w('table-box').width,
                 tableTop: w('table-box').top, flameBottom: w('flame-box').bottom,
                 status: w('status').bottom, height: innerHeight,
                 page: document.documentElement.scrollHeight};",
    );
    let f = |k: &str| layout[k].as_f64().unwrap();
    assert!(f("inner") <= 400.0, "{layout}");
    // The whole width but the margins and the scroll bar (it had 76 px).
    assert!(
        f("flame") >= f("inner") - 40.0,
        "the flamegraph takes the width: {layout}"
    );
    assert!(
        f("table") <= f("inner"),
        "the table fits the width: {layout}"
    );
    assert!(
        f("tableTop") >= f("flameBottom"),
        "the table is below: {layout}"
    );
    assert!(
        f("page") > f("height"),
        "the page is taller than the screen: {layout}"
    );
    assert!(
        f("status") <= f("height") + 1.0,
        "the status line is in view: {layout}"
    );
    browser.screenshot("13-phone");
    let label = browser.js("return document.getElementById('timeline').getAttribute('aria-label')");
    assert!(label.as_str().unwrap().ends_with(" UTC"), "{label}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 31, item 2: a profile cut to the node limit says how much of it is in `other` and how
/// to see it; the Nodes control raises the limit (and stays in the URL).
#[test]
fn truncation_is_announced_and_the_limit_can_be_raised() {
    let browser = match Browser::start() {
        Ok(b) => b,
        Err(why) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the browser test: {why}"
            );
            eprintln!("skipped: the browser test needs chromium and chromedriver ({why})");
            return;
        }
    };
    let dir = temp_dir("ui-nodes");
    let s = Server::start(&dir, &[]);
    // 10,000 distinct leaves of distinct values: more than the 8,192 nodes drawn by default.
    let stacks: String = (0..10_000)
        .map(|i| format!("main;mod{};fn{i} {}\n", i % 10, i + 1))
        .collect();
    ingest(&s, "deep.cpu", "&sampleRate=100", &stacks);
    browser.goto(&s.url(&format!(
        "/?query={}&from=now-1h&until=now",
        enc("deep.cpu{}")
    )));
    let status = browser.wait_for(
        "the truncation notice",
        "const t = document.getElementById('status').textContent; return t.includes('\"other\"') && t",
    );
    let text = status.as_str().unwrap();
    assert!(
        text.contains(
            "of the total is in \"other\" (nodes past the 8,192 drawn): raise Nodes to see it"
        ),
        "{text}"
    );
    browser.js("const s = document.getElementById('max-nodes'); s.value = '-1'; s.onchange();");
    browser.wait_for(
        "the whole profile",
        "const t = document.getElementById('status').textContent; return t.includes('10,012 nodes') && !t.includes('\"other\"')",
    );
    let url = browser.js("return location.search");
    assert!(url.as_str().unwrap().contains("maxNodes=-1"), "{url}");
    browser.screenshot("14-all-nodes");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 31, item 6 (part): frames are coloured by package from a fixed palette (two classes of
/// one package alike, another package apart, read from the canvas pixels); a cut label keeps
/// the end of the name (the function); a 10 KB frame name does not make a tooltip taller than
/// 40 % of the screen; Back undoes a change of view.
#[test]
fn package_colours_labels_tooltips_and_back() {
    let browser = match Browser::start() {
        Ok(b) => b,
        Err(why) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the browser test: {why}"
            );
            eprintln!("skipped: the browser test needs chromium and chromedriver ({why})");
            return;
        }
    };
    let dir = temp_dir("ui-colours");
    let s = Server::start(&dir, &[]);
    let huge = format!("gen.{}", "X".repeat(10_000));
    ingest(
        &s,
        "colours.cpu",
        "&sampleRate=100",
        &format!("com.shop.Cart.add 40\ncom.shop.Order.pay 40\norg.db.Pool.get 40\n{huge} 5\n"),
    );
    browser.goto(&s.url(&format!(
        "/?query={}&from=now-1h&until=now",
        enc("colours.cpu{}")
    )));
    browser.wait_for(
        "the function table",
        "return document.querySelectorAll('#fn-table tbody tr').length",
    );
    // The colour in the middle of a frame's box on the canvas.
    let pixel = |name: &str| -> Vec<u64> {
        let v = browser.js(&format!(
            "const i = flame.find('{name}'); const b = flame.box(i); const c = document.getElementById('flame');
             const r = window.devicePixelRatio || 1;
             const d = c.getContext('2d').getImageData(Math.round((b.x + 2) * r), Math.round((b.y + 2) * r), 1, 1).data;
             return [d[0], d[1], d[2]];"
        ));
        serde_json::from_value(v).unwrap()
    };
    let (cart, order, pool) = (
        pixel("com.shop.Cart.add"),
        pixel("com.shop.Order.pay"),
        pixel("org.db.Pool.get"),
    );
    // Pixels read back through the canvas may differ by a unit of rounding.
    let near = |a: &[u64], b: &[u64]| a.iter().zip(b).all(|(x, y)| x.abs_diff(*y) <= 3);
    assert!(
        near(&cart, &order),
        "one package, one colour: {cart:?} {order:?}"
    );
    assert!(
        !near(&cart, &pool),
        "another package, another colour: {cart:?} {pool:?}"
    );
    let colour = |name: &str| browser.js(&format!("return flame.color(flame.find('{name}'))"));
    assert_eq!(colour("com.shop.Cart.add"), colour("com.shop.Order.pay"));
    assert_ne!(colour("com.shop.Cart.add"), colour("org.db.Pool.get"));
    browser.screenshot("15-package-colours");
    assert_eq!(
        browser.js("return Flame.label('com.example.service.Checkout.submitOrder', 14)"),
        "…submitOrder"
    );
    // The huge frame's tooltip.
    let height = browser.js(&format!(
        "const i = flame.find('{huge}'); const b = flame.box(i);
         flame.hover({{offsetX: b.x + 1, offsetY: b.y + 2}});
         const t = document.getElementById('tooltip');
         return [t.hidden, t.getBoundingClientRect().height, innerHeight];"
    ));
    assert_eq!(height[0], false);
    assert!(
        height[1].as_f64().unwrap() <= 0.4 * height[2].as_f64().unwrap() + 1.0,
        "{height}"
    );
    // Back undoes a change of view.
    browser.click("#views button[data-view=tags]");
    browser.wait_for(
        "the tags view",
        "return location.search.includes('view=tags')",
    );
    browser.js("history.back()");
    browser.wait_for(
        "the flamegraph view again",
        "return location.search.includes('view=single') && !document.querySelector('#views button[data-view=tags]').classList.contains('active')",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 31, item 5: the series picker groups types under their service, marks series without
/// data in the range, filters by a search box, and first opens a CPU profile with recent data
/// (not the alphabetically first series).
#[test]
fn the_series_picker_groups_marks_and_searches() {
    let browser = match Browser::start() {
        Ok(b) => b,
        Err(why) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the browser test: {why}"
            );
            eprintln!("skipped: the browser test needs chromium and chromedriver ({why})");
            return;
        }
    };
    let dir = temp_dir("ui-picker");
    let s = Server::start(&dir, &[]);
    ingest(&s, "api.alloc_space", "&units=bytes", "main;alloc 100\n");
    ingest(&s, "api.cpu", "&sampleRate=100", "main;work 3\n");
    let (code, msg) = post(
        &s.url("/ingest?name=db.cpu&from=1609459200"),
        None,
        &[],
        b"main;query 3\n",
    );
    assert_eq!(code, 200, "{msg}");
    browser.goto(&s.url("/"));
    browser.wait_for(
        "the function table",
        "return document.querySelectorAll('#fn-table tbody tr').length",
    );
    assert_eq!(
        browser.js("return document.getElementById('app').value"),
        "api.cpu"
    );
    let groups = browser.js(
        "return Array.from(document.querySelectorAll('#app optgroup')).map(g =>
           [g.label, Array.from(g.children).map(o => o.textContent)]);",
    );
    assert_eq!(
        groups,
        json!([
            ["api", ["alloc_space", "cpu"]],
            ["db", ["cpu (no data in range)"]]
        ])
    );
    browser.type_into("#series-search", "db");
    let groups = browser
        .js("return Array.from(document.querySelectorAll('#app optgroup')).map(g => g.label);");
    // The selected series stays listed; the others are filtered.
    assert_eq!(groups, json!(["api", "db"]));
    let options = browser
        .js("return Array.from(document.querySelectorAll('#app option')).map(o => o.value);");
    assert_eq!(options, json!(["api.cpu", "db.cpu"]));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 31, the test-run view: k6 runs (their profiles carry `k6_test_run_id` from W3C
/// baggage) listed newest first with their span; a run opens over exactly its span, breaks down
/// by scenario, and compares with the previous run in one click.
#[test]
fn k6_test_runs_are_listed_opened_and_compared() {
    let browser = match Browser::start() {
        Ok(b) => b,
        Err(why) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the browser test: {why}"
            );
            eprintln!("skipped: the browser test needs chromium and chromedriver ({why})");
            return;
        }
    };
    let dir = temp_dir("ui-runs");
    let s = Server::start(&dir, &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (r1, r2) = (now - 3 * 3600, now - 3600);
    let (r1, r2) = (r1 - r1 % 10, r2 - r2 % 10);
    // r1: one upload; r2: two uploads 60 s apart, two scenarios.
    for (run, at, scenario, body) in [
        ("r1", r1, "browse", "main;render 5\n"),
        ("r2", r2, "browse", "main;render 2\n"),
        ("r2", r2 + 60, "checkout", "main;pay 7\n"),
    ] {
        let name = enc(&format!(
            "load.cpu{{k6_test_run_id={run},k6_scenario={scenario},k6_name=GET /}}"
        ));
        let (code, msg) = post(
            &s.url(&format!("/ingest?name={name}&from={at}&sampleRate=100")),
            None,
            &[],
            body.as_bytes(),
        );
        assert_eq!(code, 200, "{msg}");
    }
    browser.goto(&s.url(&format!("/?query={}&view=runs", enc("load.cpu{}"))));
    browser.wait_for(
        "the runs",
        "return document.querySelectorAll('#run-table tbody tr').length === 2",
    );
    let rows = browser.js(
        "return Array.from(document.querySelectorAll('#run-table tbody tr')).map(tr =>
           Array.from(tr.cells).slice(0, 3).map(td => td.textContent));",
    );
    let iso = |t: i64| {
        pyro_ingest_server::attime::rfc3339(t)
            .trim_end_matches('Z')
            .replace('T', " ")
    };
    assert_eq!(
        rows,
        json!([["r2", iso(r2), "70 s"], ["r1", iso(r1), "10 s"]])
    );
    // Open r2 by scenario: exactly its span, its filter, the scenario breakdown.
    browser.click("#run-table tbody tr[data-run=r2] button[data-action='by scenario']");
    browser.wait_for(
        "the scenario breakdown",
        "return document.querySelectorAll('#tag-table tbody tr').length === 2",
    );
    let url = browser.js("return new URLSearchParams(location.search).toString()");
    let url = url.as_str().unwrap();
    assert!(
        url.contains(&format!("from={r2}")) && url.contains(&format!("until={}", r2 + 70)),
        "{url}"
    );
    assert!(
        url.contains("view=tags") && url.contains("groupBy=k6_scenario"),
        "{url}"
    );
    assert!(url.contains("k6_test_run_id%3D%22r2%22"), "{url}");
    let tags = browser.js(
        "return Array.from(document.querySelectorAll('#tag-table tbody tr')).map(tr => tr.cells[0].textContent);",
    );
    assert_eq!(tags, json!(["checkout", "browse"]));
    browser.screenshot("16-test-run-by-scenario");
    // Back to the runs; compare r2 with the previous run in one click.
    browser.goto(&s.url(&format!("/?query={}&view=runs", enc("load.cpu{}"))));
    browser.wait_for(
        "the runs",
        "return document.querySelectorAll('#run-table tbody tr').length === 2",
    );
    browser.click("#run-table tbody tr[data-run=r2] button[data-action='vs previous run']");
    let status = browser.wait_for(
        "the diff",
        "const t = document.getElementById('status').textContent; return t.startsWith('left') && t",
    );
    assert!(
        status
            .as_str()
            .unwrap()
            .starts_with("left 50 ms · right 90 ms"),
        "{status}"
    );
    let left = browser.js("return document.getElementById('left-query').value");
    assert_eq!(left, "load.cpu{k6_test_run_id=\"r1\"}");
    browser.screenshot("17-test-run-vs-previous");
    // By request name, and against the span before the run.
    browser.goto(&s.url(&format!("/?query={}&view=runs", enc("load.cpu{}"))));
    browser.wait_for(
        "the runs",
        "return document.querySelectorAll('#run-table tbody tr').length === 2",
    );
    browser.click("#run-table tbody tr[data-run=r2] button[data-action='by request']");
    browser.wait_for(
        "the request breakdown",
        "return Array.from(document.querySelectorAll('#tag-table tbody tr')).map(tr => tr.cells[0].textContent).join() === 'GET /'",
    );
    browser.goto(&s.url(&format!("/?query={}&view=runs", enc("load.cpu{}"))));
    browser.wait_for(
        "the runs",
        "return document.querySelectorAll('#run-table tbody tr').length === 2",
    );
    browser.click("#run-table tbody tr[data-run=r2] button[data-action='vs the span before']");
    browser.wait_for(
        "the diff against the span before",
        "const t = document.getElementById('status').textContent; return t.startsWith('left 0 s · right 90 ms') && t",
    );
    let left = browser.js("return [document.getElementById('left-query').value, document.getElementById('left-from').value, document.getElementById('left-until').value]");
    assert_eq!(
        left,
        json!(["load.cpu{}", (r2 - 70).to_string(), r2.to_string()])
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 31, item 3: a right click on a frame opens a menu: focus on its subtree (drawn alone,
/// on top), collapse it (its descendants hidden, then shown again), the sandwich view of its
/// function (callers and callees, each merged), a search for it.
#[test]
fn frame_menu_focus_collapse_and_sandwich() {
    let browser = match Browser::start() {
        Ok(b) => b,
        Err(why) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the browser test: {why}"
            );
            eprintln!("skipped: the browser test needs chromium and chromedriver ({why})");
            return;
        }
    };
    let dir = temp_dir("ui-menu");
    let s = Server::start(&dir, &[]);
    ingest(
        &s,
        "menu.cpu",
        "&sampleRate=100",
        "main;handle;parse;alloc 10\nmain;handle;render 20\nmain;batch;parse;alloc 30\nmain;batch;parse 5\n",
    );
    browser.goto(&s.url(&format!(
        "/?query={}&from=now-1h&until=now",
        enc("menu.cpu{}")
    )));
    browser.wait_for(
        "the function table",
        "return document.querySelectorAll('#fn-table tbody tr').length",
    );
    // Right click on a frame (the first `handle`) opens the menu.
    let menu = |name: &str| -> Value {
        browser.js(&format!(
            "const i = flame.find('{name}'); const b = flame.box(i); const c = document.getElementById('flame');
             const r = c.getBoundingClientRect();
             c.dispatchEvent(new MouseEvent('contextmenu', {{clientX: r.left + b.x + 2, clientY: r.top + b.y + 2, bubbles: true, cancelable: true}}));
             return Array.from(document.querySelectorAll('#menu button')).map(b => b.dataset.action);"
        ))
    };
    assert_eq!(
        menu("handle"),
        json!(["focus", "collapse", "sandwich", "search"])
    );
    browser.screenshot("9-menu");
    // Focus: `handle` on the top row, its parent not drawn, the canvas as tall as its subtree.
    browser.click("#menu button[data-action=focus]");
    let focus = browser.js(
        "return [flame.box(flame.find('handle')).y, flame.nodeAtPoint(2, 2) === flame.find('handle'),
                 document.getElementById('flame').clientHeight];",
    );
    assert_eq!(focus, json!([0, true, 3 * 18]));
    browser.click("#reset");
    // Collapse `batch`: its descendants are hidden, then shown again.
    menu("batch");
    browser.click("#menu button[data-action=collapse]");
    let hidden = "const p = flame.g.parent; const b = flame.find('batch');
         let n = 0; for (let i = 0; i < flame.g.n; i++) { let q = p[i]; while (q > 0 && q !== b) q = p[q]; if (q === b && flame.isHidden(i)) n++; }
         return n;";
    assert_eq!(browser.js(hidden), json!(2));
    menu("batch");
    browser.click("#menu button[data-action=collapse]");
    assert_eq!(browser.js(hidden), json!(0));
    // Sandwich of `parse`: callers handle and batch under it (merged paths to main), callees
    // alloc (10 + 30) with parse's own 5.
    menu("parse");
    browser.click("#menu button[data-action=sandwich]");
    browser.wait_for(
        "the sandwich",
        "return !document.getElementById('sandwich').hidden",
    );
    browser.screenshot("10-sandwich");
    let tree = |flame: &str| -> Value {
        browser.js(&format!(
            "const g = {flame}.g; const out = [];
             for (let i = 0; i < g.n; i++) out.push([g.level[i], g.names[g.name[i]], g.total[i], g.self[i]]);
             return out;"
        ))
    };
    assert_eq!(
        tree("callersFlame"),
        json!([
            [0, "parse", 45, 0],
            [1, "batch", 35, 0],
            [1, "handle", 10, 0],
            [2, "main", 35, 35],
            [2, "main", 10, 10]
        ])
    );
    assert_eq!(
        tree("calleesFlame"),
        json!([[0, "parse", 45, 5], [1, "alloc", 40, 40]])
    );
    browser.click("#sandwich-close");
    assert_eq!(
        browser.js("return document.getElementById('sandwich').hidden"),
        json!(true)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
