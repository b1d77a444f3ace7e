//! The console's page, script and style sheet, compiled into the binary: nothing is fetched
//! from anywhere else, and the Content-Security-Policy the page is served with says so.

/// `GET /`.
pub const INDEX: &str = include_str!("assets/index.html");
/// `GET /console.js`: hand-written, no library.
pub const SCRIPT: &str = include_str!("assets/console.js");
/// `GET /console.css`.
pub const STYLE: &str = include_str!("assets/console.css");

/// The page may load only its own script and style sheet and talk only to its own origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing on the page reaches beyond its origin, and it has no inline script or style
    /// the policy would block.
    #[test]
    fn the_page_is_self_contained() {
        for (name, text) in [("index.html", INDEX), ("console.js", SCRIPT), ("console.css", STYLE)] {
            for far in ["http://", "https://", "//cdn", "@import"] {
                let allowed = text.matches("http://www.w3.org/2000/svg").count();
                let found = text.matches(far).count();
                assert!(found == 0 || (far == "http://" && found == allowed), "{name} refers to {far}");
            }
        }
        assert!(!INDEX.contains("<script>") && !INDEX.contains(" style=\""), "no inline script or style");
        assert!(INDEX.contains("src=\"/console.js\"") && INDEX.contains("href=\"/console.css\""));
        for forbidden in ["localStorage", "sessionStorage", "document.cookie", "?token", "&token"] {
            assert!(!SCRIPT.contains(forbidden), "the token never leaves the page's memory: {forbidden}");
        }
    }
}
