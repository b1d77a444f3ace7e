//! Secrets: a setting that is never printed ([`Secret`]), a secret read from a file only
//! its owner may read, and [`redact`] — the one function every URL or connection string
//! (PostgreSQL, Kafka, MQTT, the control plane) goes through before genims prints it.

use std::path::Path;

use anyhow::{anyhow, bail, Result};

/// A secret setting: never printed, not even by `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

/// Reads a secret from the first line of a file that only its owner may read (as libpq
/// insists for `~/.pgpass`); `setting` names the key that pointed at it.
pub fn read_secret_file(path: &Path, setting: &str) -> Result<Secret> {
    check_private(path, setting)?;
    let text = std::fs::read_to_string(path).map_err(|e| anyhow!("cannot read {setting} {}: {e}", path.display()))?;
    let secret = text.lines().next().unwrap_or("").to_owned();
    if secret.is_empty() {
        bail!("{setting} {} is empty", path.display());
    }
    Ok(Secret(secret))
}

/// Refuses a file of secrets that other users may read (as libpq does ~/.pgpass).
pub fn check_private(path: &Path, setting: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).map_err(|e| anyhow!("cannot read {setting} {}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{setting} {} may be read by other users (mode {mode:o}): chmod 600 it, as for ~/.pgpass",
            path.display()
        );
    }
    Ok(())
}

/// Keywords whose values are secrets, in a URL's query or a key=value string (libpq's
/// names, and the usual ones of other clients); matched in any case.
const SECRET_KEYS: &[&str] = &["password", "sslpassword", "passwd", "pass", "secret", "token", "sasl_password"];

/// What stands in for a secret.
const MASK: &str = "***";

/// The text with every secret hidden, for messages. Any URL (`scheme://user:secret@host…`
/// of any scheme, in any case, with white space around it): the password of its user info,
/// which may itself hold `@`, `:` or `/` (the user info ends at the last `@`), and the value
/// of every secret keyword of its query (up to `&` or `#`). Anything else is read as a
/// key=value string (libpq's form): each secret keyword's value, quoted (`'a b\'c'`) or not
/// (`a\ b`: a backslash escapes the next character), with white space allowed around `=`.
/// What remains names the server.
pub fn redact(text: &str) -> String {
    let url = url_start(text);
    let mut ranges = keyword_ranges(text, url.is_some());
    ranges.extend(url.and_then(|from| userinfo_range(text, from)));
    ranges.sort_unstable();
    // Each run of overlapping secrets becomes one mask: a secret may hold what looks like
    // another (a query password with `@`, a user-info password with `?password=`).
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut i = 0;
    while i < ranges.len() {
        let (start, mut end) = ranges[i];
        while i + 1 < ranges.len() && ranges[i + 1].0 <= end {
            i += 1;
            end = end.max(ranges[i].1);
        }
        out.push_str(&text[at..start.max(at)]);
        out.push_str(MASK);
        at = end.max(at);
        i += 1;
    }
    out.push_str(&text[at..]);
    out
}

/// Where the part after `scheme://` begins, if `text` (after leading white space) is a URL.
fn url_start(text: &str) -> Option<usize> {
    let lead = text.len() - text.trim_start().len();
    let rest = &text[lead..];
    let sep = rest.find("://")?;
    let scheme = &rest[..sep];
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))).then_some(lead + sep + 3)
}

/// The password of the user info that starts at `from`: everything between the user
/// name's `:` and the last `@`, provided the user name holds no `/`, `?` or `#` (then that
/// `@` lies in the path or query, and there is no password).
fn userinfo_range(text: &str, from: usize) -> Option<(usize, usize)> {
    let rest = &text[from..];
    let at = rest.rfind('@')?;
    let colon = rest[..at].find(':')?;
    (!rest[..colon].contains(['/', '?', '#'])).then_some((from + colon + 1, from + at))
}

/// The value of every secret keyword: `password=x` (URL query: up to `&` or `#`;
/// key=value: see [`value_end`]).
fn keyword_ranges(s: &str, is_url: bool) -> Vec<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let boundary = i == 0 || matches!(bytes[i - 1], b'?' | b'&' | b';') || bytes[i - 1].is_ascii_whitespace();
        if let Some(value) = boundary.then(|| secret_value_at(s, i, is_url)).flatten() {
            let end = value_end(s, value, is_url);
            ranges.push((value, end));
            i = end.max(value + 1);
            continue;
        }
        i += s[i..].chars().next().expect("inside the string").len_utf8();
    }
    ranges
}

/// If a secret keyword and its `=` start at `i`, where its value starts.
fn secret_value_at(s: &str, i: usize, is_url: bool) -> Option<usize> {
    let bytes = s.as_bytes();
    let skip_space = |mut j: usize| {
        while !is_url && j < s.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        j
    };
    SECRET_KEYS.iter().find_map(|key| {
        let end = i + key.len();
        if end > s.len() || !s.is_char_boundary(end) || !s[i..end].eq_ignore_ascii_case(key) {
            return None;
        }
        let j = skip_space(end);
        (bytes.get(j) == Some(&b'=')).then(|| skip_space(j + 1))
    })
}

/// Where the value starting at `j` ends: in a URL at `&` or `#`; in a key=value string at
/// the closing quote of a quoted value, else at white space not escaped by a backslash.
fn value_end(s: &str, j: usize, is_url: bool) -> usize {
    let bytes = s.as_bytes();
    if is_url {
        return s[j..].find(['&', '#']).map_or(s.len(), |k| j + k);
    }
    let quoted = bytes.get(j) == Some(&b'\'');
    let mut k = if quoted { j + 1 } else { j };
    while k < s.len() {
        match bytes[k] {
            b'\\' => k += 2,
            b'\'' if quoted => return k + 1,
            c if !quoted && c.is_ascii_whitespace() => return k,
            _ => k += 1,
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::redact;
    use proptest::prelude::*;

    /// Every form libpq accepts, and the URLs of the other clients, each with its expected
    /// masked text.
    #[test]
    fn secrets_are_hidden_in_every_form() {
        let cases = [
            ("postgresql://u:S3cret@h:5432/db", "postgresql://u:***@h:5432/db"),
            ("postgres://u:S3cret@h/db", "postgres://u:***@h/db"),
            ("postgresql://u@h/db", "postgresql://u@h/db"),
            ("postgresql://h:5432/db", "postgresql://h:5432/db"),
            // A password holding '@' and ':' (libpq takes the last '@').
            ("postgresql://u:S3c@ret:x@h/db", "postgresql://u:***@h/db"),
            (
                "postgresql://u:S3cret@h/db?password=S3cret&sslmode=require",
                "postgresql://u:***@h/db?password=***&sslmode=require",
            ),
            ("postgresql://h/db?user=u&password=S3cret", "postgresql://h/db?user=u&password=***"),
            ("postgresql://h/db?sslpassword=S3cret", "postgresql://h/db?sslpassword=***"),
            ("postgresql://h/db?application_name=a@b", "postgresql://h/db?application_name=a@b"),
            ("host=h password=S3cret dbname=x", "host=h password=*** dbname=x"),
            ("host=h password = S3cret dbname=x", "host=h password = *** dbname=x"),
            ("host=h password='S3 cr\\'et' dbname=x", "host=h password=*** dbname=x"),
            ("host=h password=S3cret\\ more dbname=x", "host=h password=*** dbname=x"),
            ("password=S3cret", "password=***"),
            ("host=h PASSWORD=S3cret", "host=h PASSWORD=***"),
            ("host=h sslpassword=S3cret user=u", "host=h sslpassword=*** user=u"),
            ("host=h passfile=/x user=u", "host=h passfile=/x user=u"),
            // Not exactly a recognised form: leading white space, another scheme or case.
            (" postgresql://u:S3cret@h/db", " postgresql://u:***@h/db"),
            ("\tpostgresql://u:S3cret@h/db", "\tpostgresql://u:***@h/db"),
            ("postgresql+psycopg2://u:S3cret@h/db", "postgresql+psycopg2://u:***@h/db"),
            ("POSTGRESQL://u:S3cret@h/db", "POSTGRESQL://u:***@h/db"),
            ("postgress://u:S3cret@h/db", "postgress://u:***@h/db"),
            ("mysql://u:S3cret@h/db", "mysql://u:***@h/db"),
            ("mqtt://u:S3cret@127.0.0.1:1883", "mqtt://u:***@127.0.0.1:1883"),
            ("http://admin:S3cret@127.0.0.1:9872/x", "http://admin:***@127.0.0.1:9872/x"),
            ("http://127.0.0.1:9872/faults?token=S3cret", "http://127.0.0.1:9872/faults?token=***"),
        ];
        for (given, want) in cases {
            let got = redact(given);
            assert_eq!(got, want, "redact({given:?})");
            assert!(!got.contains("S3c") && !got.contains("ret'"), "a secret shows in {got:?}");
        }
    }

    /// Letters that no template below uses: a run of the secret holding one of them can only
    /// come from the secret.
    const MARKS: &str = "XZJV";

    /// A secret: a run of marks, then characters a password may hold in `position` (a URL's
    /// user info takes `@`, `:`, `/`; a query value anything but its `&`/`#` separators; a
    /// key=value value is quoted or escaped by the template).
    fn secret(position: &'static str) -> impl Strategy<Value = String> {
        let tail = match position {
            "userinfo" => "[XZJVa-z0-9!$%*()_+~.,;:@/?#=-]{0,12}",
            "query" => "[XZJVa-z0-9!$%*()_+~.,;:@/?=' -]{0,12}",
            _ => "[XZJVa-z0-9!$%*()_+~.,;:@/?#&=' \\\\-]{0,12}",
        };
        ("[XZJV]{3,6}", tail).prop_map(|(a, b)| a + &b)
    }

    /// A key=value value as libpq reads it: quoted (quotes and backslashes escaped) or bare
    /// (white space, quotes and backslashes escaped).
    fn libpq_value(secret: &str, quoted: bool) -> String {
        let mut v = String::new();
        for c in secret.chars() {
            let escape = if quoted { matches!(c, '\'' | '\\') } else { c.is_whitespace() || matches!(c, '\'' | '\\') };
            if escape {
                v.push('\\');
            }
            v.push(c);
        }
        if quoted {
            format!("'{v}'")
        } else {
            v
        }
    }

    fn case(word: &str, style: u8) -> String {
        match style % 3 {
            0 => word.to_owned(),
            1 => word.to_ascii_uppercase(),
            _ => word.chars().enumerate().map(|(i, c)| if i % 2 == 0 { c.to_ascii_uppercase() } else { c }).collect(),
        }
    }

    fn space(style: u8) -> &'static str {
        ["", " ", "\t", "  \t", "\n"][style as usize % 5]
    }

    /// No run of three characters of `secret` that holds a mark shows in `shown`.
    fn assert_hidden(secret: &str, given: &str, shown: &str) {
        let chars: Vec<char> = secret.chars().collect();
        for w in chars.windows(3) {
            let run: String = w.iter().collect();
            if w.iter().any(|c| MARKS.contains(*c)) {
                assert!(!shown.contains(&run), "{run:?} of the secret shows: {given:?} → {shown:?}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A password in a URL's user info, any scheme and case, white space around.
        #[test]
        fn a_urls_password_never_shows(
            pw in secret("userinfo"),
            scheme in prop::sample::select(vec!["postgresql", "postgres", "postgresql+psycopg2", "postgress", "mysql", "mqtt", "mqtts", "http", "kafka"]),
            style in 0u8..3, lead in 0u8..5, trail in 0u8..5,
            tail in prop::sample::select(vec!["", "/db", ":5432/db", "/db?sslmode=require", "/db?application_name=a@b"]),
        ) {
            let given = format!("{}{}://user:{pw}@host{tail}{}", space(lead), case(scheme, style), space(trail));
            assert_hidden(&pw, &given, &redact(&given));
        }

        /// A password as a query parameter of a URL, in any case, beside others.
        #[test]
        fn a_query_password_never_shows(
            pw in secret("query"),
            key in prop::sample::select(vec!["password", "sslpassword", "token"]),
            style in 0u8..3, lead in 0u8..5,
            before in prop::sample::select(vec!["?", "?user=u&", "?sslmode=require&"]),
            after in prop::sample::select(vec!["", "&sslmode=require", "#frag"]),
            userinfo in prop::sample::select(vec!["", "u@", "u:@"]),
        ) {
            let given = format!("{}postgresql://{userinfo}h:5432/db{before}{}={pw}{after}", space(lead), case(key, style));
            assert_hidden(&pw, &given, &redact(&given));
        }

        /// A password in a key=value string: any case, white space around `=`, quoted or
        /// escaped, in any position among the other keywords.
        #[test]
        fn a_keyword_password_never_shows(
            pw in secret("keyword"),
            key in prop::sample::select(vec!["password", "sslpassword"]),
            style in 0u8..3, around in 0u8..5, sep in 1u8..5, lead in 0u8..5,
            quoted in any::<bool>(),
            position in 0usize..3,
        ) {
            let pair = format!("{}{}={}{}", case(key, style), space(around), space(around), libpq_value(&pw, quoted));
            let mut words = vec!["host=h".to_owned(), "dbname=x".to_owned()];
            words.insert(position, pair);
            let sep = space(sep);
            let given = format!("{}{}", space(lead), words.join(sep));
            assert_hidden(&pw, &given, &redact(&given));
        }
    }
}
