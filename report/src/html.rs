//! The page frame: escaping, the shared style, a Content-Security-Policy that forbids every
//! load from outside the file, and a catcher that shows script errors on the page.

/// Text or a double-quoted attribute value, escaped: nothing from results becomes markup.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON text made safe inside `<script type="application/json">`: no `<`, `>` or `&` (so
/// no `</script>` or `<!--`), and no U+2028/2029 line separators. JSON parsers read the
/// `\uXXXX` escapes back as the same characters.
pub fn script_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A CSS class for an outcome name (`o-pass`, `o-not-supported`, …); anything outside
/// the names' alphabet is dropped, so a class can never break out of its attribute.
pub fn outcome_class(outcome: &str) -> String {
    let name: String = outcome
        .chars()
        .filter(|c| c.is_ascii_lowercase() || *c == '-')
        .collect();
    format!("o-{name}")
}

/// Only what is inside the file may load: inline style and script, `data:` images.
const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";

/// Runs before anything else: a script error shows on the page (and in `#js-errors`, which
/// tests read from the DOM) instead of only in a console nobody opens.
const ERROR_CATCHER: &str = "window.addEventListener('error',function(e){\
var p=document.getElementById('js-errors');if(!p)return;p.hidden=false;\
p.textContent+=String(e.message)+'\\n';});";

/// One HTML document: `title` (text), `body` (markup the caller built with `esc`), and
/// `script` run at the end; `data-ready="1"` on `<html>` says the script ran to its end.
pub fn page(title: &str, body: &str, script: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n<script>{ERROR_CATCHER}</script>\n</head>\n<body>\n\
         <pre id=\"js-errors\" class=\"js-errors\" hidden></pre>\n{body}\n\
         <script>{script}\ndocument.documentElement.dataset.ready='1';</script>\n</body>\n</html>\n",
        esc(title)
    )
}

/// The style of every hil report: outcome colours (`o-*`), matrices, plots, tables.
pub const STYLE: &str = r#"
:root{--pass:#2e9e44;--fail:#d1242f;--ns:#b8bec6;--flagged:#b67ad6;--crash:#7a1020;--timeout:#e8871e;
--ink:#1f2328;--muted:#59636e;--line:#d0d7de;--bg:#fff;--panel:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--ink);background:var(--bg);margin:0;padding:16px 24px 48px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.muted{color:var(--muted)}
.js-errors{background:#ffebe9;color:var(--fail);padding:8px;border:1px solid var(--fail)}
.o-pass{background:var(--pass);color:#fff}.o-fail{background:var(--fail);color:#fff}
.o-not-supported{background:var(--ns);color:#1f2328}.o-flagged{background:var(--flagged);color:#fff}
.o-crash{background:var(--crash);color:#fff}.o-timeout{background:var(--timeout);color:#1f2328}
.o-none{background:#fff;color:var(--muted)}
.chip{display:inline-block;border-radius:10px;padding:0 8px;margin:0 4px 4px 0;font-size:12.5px;white-space:nowrap}
.boards{display:flex;flex-wrap:wrap;gap:16px}
.board{border:1px solid var(--line);border-radius:6px;padding:10px 14px;min-width:320px;flex:1 1 380px;background:var(--panel)}
.board h3{margin-top:0}
table.kv{border-collapse:collapse}table.kv td{padding:1px 8px 1px 0;vertical-align:top}table.kv td:first-child{color:var(--muted);white-space:nowrap}
table.list{border-collapse:collapse;width:100%}table.list th,table.list td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
table.list th{background:var(--panel);position:sticky;top:0}
.matrices{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
.matrix{border-collapse:collapse}.matrix caption{text-align:left;font-weight:600;padding-bottom:2px;white-space:nowrap}
.matrix th{font-weight:normal;color:var(--muted);padding:2px 4px;font-size:12px}
.matrix td.cell{width:34px;height:28px;border:2px solid #fff;text-align:center;cursor:pointer;font-size:11px}
.matrix td.empty{width:34px;height:28px;border:2px solid #fff;background:repeating-linear-gradient(45deg,#f6f8fa,#f6f8fa 4px,#eaeef2 4px,#eaeef2 8px)}
td.cell.regression{outline:3px solid #000;outline-offset:-3px}
td.cell:hover,td.cell.selected{outline:3px solid #0969da;outline-offset:-3px}
.axis-note{font-size:12px;color:var(--muted)}
#details{position:sticky;bottom:0;background:#fff;border:1px solid var(--line);border-radius:6px;padding:8px 12px;margin-top:16px;max-height:45vh;overflow:auto;box-shadow:0 -2px 8px rgba(0,0,0,.08)}
#details pre{white-space:pre-wrap;margin:4px 0}
.legend span{margin-right:6px}
.plot{margin:6px 0 14px}.plot svg{width:100%;max-width:760px;height:auto;display:block}
svg text{font:11px system-ui,sans-serif;fill:var(--ink)}
svg .bar{fill:#0969da}svg .slow{fill:#d1242f;opacity:.10}svg .slow-label{fill:var(--fail);font-weight:600}
svg .marker{stroke:var(--pass);stroke-width:1.5;stroke-dasharray:4 3}svg .marker-label{fill:var(--pass);paint-order:stroke;stroke:#fff;stroke-width:3px}
svg .grid{stroke:var(--line);stroke-width:1}svg .axis{stroke:var(--muted);stroke-width:1}
svg .box{fill:#0969da;opacity:.5}svg .whisker{stroke:#0969da;stroke-width:1.5}svg .median{stroke:#0a3069;stroke-width:3}
input.filter{font:inherit;padding:3px 6px;width:320px;margin:4px 0 8px}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_and_script_json_carry_no_markup() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let j = script_json("{\"m\":\"</script><!-- & \u{2028}\"}");
        assert!(!j.contains(['<', '>', '&', '\u{2028}']), "{j}");
        assert_eq!(j, r#"{"m":"\u003c/script\u003e\u003c!-- \u0026 \u2028"}"#);
        assert_eq!(outcome_class("not-supported"), "o-not-supported");
        assert_eq!(outcome_class("x\" onclick=\"y"), "o-xonclicky");
    }

    #[test]
    fn a_page_forbids_loading_anything_and_marks_when_its_script_finished() {
        let p = page("t <1>", "<p>body</p>", "var a=1;");
        assert!(p.contains("<title>t &lt;1&gt;</title>"));
        assert!(p.contains("content=\"default-src 'none';"));
        let error_catcher = p.find("addEventListener('error'").unwrap();
        assert!(error_catcher < p.find("<p>body</p>").unwrap());
        assert!(p.contains("var a=1;\ndocument.documentElement.dataset.ready='1';"));
    }
}
