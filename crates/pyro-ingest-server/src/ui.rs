//! The flamegraph UI: one page, its script and its styles, embedded in the binary (no network
//! access, no build step). `GET /` serves the page, which reads everything from the server's
//! own endpoints; [`standalone`] inlines the assets and one `/render` answer into a single file
//! (`/render?format=html`, `convert --output html`).

/// The page.
pub const INDEX_HTML: &str = include_str!("../ui/index.html");
/// The page's script.
pub const APP_JS: &str = include_str!("../ui/app.js");
/// The page's styles.
pub const APP_CSS: &str = include_str!("../ui/app.css");

const CSS_TAG: &str = r#"<link rel="stylesheet" href="ui/app.css">"#;
const JS_TAG: &str = r#"<script src="ui/app.js"></script>"#;

/// The page's Content-Security-Policy: its own script, styles and requests only, never in a
/// frame, no `<base>` or form targets (the favicon is a `data:` URL).
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// The Content-Security-Policy of [`standalone`] pages: their one inline script and style,
/// named by hash (the embedded JSON is data, not script), no requests, never in a frame.
pub fn standalone_csp() -> &'static str {
    static CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        use base64::Engine;
        use sha2::Digest;
        let hash = |text: &str| {
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text.as_bytes()))
        };
        format!(
            "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; img-src data:; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            hash(&inline_script()),
            hash(&inline_style())
        )
    })
}

/// The text of the standalone page's `<script>` element.
fn inline_script() -> String {
    // Inside a script element `</script` would end it: `<\/` means `</` in its strings.
    format!("\n{}", APP_JS.replace("</", "<\\/"))
}

/// The text of the standalone page's `<style>` element.
fn inline_style() -> String {
    format!("\n{APP_CSS}")
}

/// The page as one self-contained file showing `render_json` (a `/render` or `/render-diff`
/// JSON answer): styles and script inlined, the answer embedded as JSON, no request needed to
/// view it.
pub fn standalone(render_json: &str) -> String {
    // Inside a script element `</script` would end it and `<!--` can hide the real end tag.
    // JSON has `<` only inside strings, where `\u003c` means the same; the page's own script
    // has no `<!--`, and `<\/` means `</` in its strings.
    let data = render_json.replace('<', "\\u003c");
    INDEX_HTML
        .replacen(CSS_TAG, &format!("<style>{}</style>", inline_style()), 1)
        .replacen(
            JS_TAG,
            &format!(
                "<script id=\"preload\" type=\"application/json\">{data}</script>\n<script>{}</script>",
                inline_script()
            ),
            1,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_what_standalone_inlines() {
        assert!(INDEX_HTML.contains(CSS_TAG) && INDEX_HTML.contains(JS_TAG));
        let page = standalone(r#"{"flamebearer":{"names":["</script>","<!--<script>"]}}"#);
        assert!(!page.contains(CSS_TAG) && !page.contains(JS_TAG));
        assert!(
            page.contains(
                r#"{"flamebearer":{"names":["\u003c/script>","\u003c!--\u003cscript>"]}}"#
            )
        );
        assert_eq!(page.matches("</script>").count(), 2);
        assert!(!APP_JS.contains("<!--"));
    }

    /// The standalone page's CSP names exactly its inline script and style (by hash), and the
    /// JSON data block is not a script the CSP must allow.
    #[test]
    fn the_standalone_csp_names_its_inline_elements() {
        use base64::Engine;
        use sha2::Digest;
        let page = standalone(r#"{"flamebearer":{"names":["a"]}}"#);
        let between = |open: &str, close: &str| -> String {
            let i = page.rfind(open).unwrap() + open.len();
            let j = i + page[i..].find(close).unwrap();
            page[i..j].to_owned()
        };
        let hash = |t: &str| {
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(t.as_bytes()))
        };
        let csp = standalone_csp();
        assert!(csp.contains(&format!(
            "script-src 'sha256-{}'",
            hash(&between("<script>", "</script>"))
        )));
        assert!(csp.contains(&format!(
            "style-src 'sha256-{}'",
            hash(&between("<style>", "</style>"))
        )));
        assert!(
            csp.contains("frame-ancestors 'none'") && PAGE_CSP.contains("frame-ancestors 'none'")
        );
    }
}
