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

/// The page as one self-contained file showing `render_json` (a `/render` or `/render-diff`
/// JSON answer): styles and script inlined, the answer embedded as JSON, no request needed to
/// view it.
pub fn standalone(render_json: &str) -> String {
    // Inside a script element `</script` would end it and `<!--` can hide the real end tag.
    // JSON has `<` only inside strings, where `\u003c` means the same; the page's own script
    // has no `<!--`, and `<\/` means `</` in its strings.
    let data = render_json.replace('<', "\\u003c");
    let script = APP_JS.replace("</", "<\\/");
    INDEX_HTML
        .replacen(CSS_TAG, &format!("<style>\n{APP_CSS}</style>"), 1)
        .replacen(
            JS_TAG,
            &format!(
                "<script id=\"preload\" type=\"application/json\">{data}</script>\n<script>\n{script}</script>"
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
}
