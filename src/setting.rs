//! How one setting's value is read from a configuration file: an integer within a range, a
//! fraction, a name its type parses, an optional string, a list. Each section's struct names
//! these on its fields (`#[serde(deserialize_with = "setting::int::<_, _, 1, 64>")]`), so a
//! key's rule sits on the field that declares it. The messages are what users see after
//! `file:line: section.key:`.

use std::fmt::Display;
use std::str::FromStr;

use serde::de::{Deserialize, Deserializer, Error};

/// The value as written, whatever its type.
fn raw<'de, D: Deserializer<'de>>(d: D) -> Result<toml::Value, D::Error> {
    toml::Value::deserialize(d)
}

/// The value as a string, or the error that names what was found instead.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match raw(d)? {
        toml::Value::String(s) => Ok(s),
        v => Err(D::Error::custom(format!("expected a string, found {}", v.type_str()))),
    }
}

/// An integer in `LO..=HI`.
pub fn int<'de, D, T, const LO: i64, const HI: i64>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    let v = raw(d)?;
    match v.as_integer() {
        Some(i) if (LO..=HI).contains(&i) => T::try_from(i).map_err(|_| D::Error::custom(format!("{i} is too large"))),
        Some(i) => Err(D::Error::custom(format!("{i} is out of range {LO}..={HI}"))),
        None => Err(D::Error::custom(format!("expected an integer, found {}", v.type_str()))),
    }
}

/// A number between 0 and 1.
pub fn fraction<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = raw(d)?;
    let x = v
        .as_float()
        .or_else(|| v.as_integer().map(|i| i as f64))
        .ok_or_else(|| D::Error::custom(format!("expected a number, found {}", v.type_str())))?;
    if !(0.0..=1.0).contains(&x) {
        return Err(D::Error::custom(format!("{x} must lie between 0 and 1")));
    }
    Ok(x)
}

/// `true` or `false`.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match raw(d)? {
        toml::Value::Boolean(b) => Ok(b),
        v => Err(D::Error::custom(format!("expected true or false, found {}", v.type_str()))),
    }
}

/// A date written `YYYY-MM-DD`.
pub fn date<'de, D: Deserializer<'de>>(d: D) -> Result<crate::clock::Date, D::Error> {
    let s = text(d)?;
    crate::clock::parse_date(&s).ok_or_else(|| D::Error::custom(format!("`{s}` is not a date like 2025-12-19")))
}

/// A string its type parses (`FromStr` words the error).
pub fn parsed<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    let s = text(d)?;
    s.parse().map_err(D::Error::custom)
}

/// A string its type parses; an empty string leaves the setting unset.
pub fn maybe<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    let s = text(d)?;
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(D::Error::custom)
}

/// Comma-separated items in a string, or a list of strings, each parsed by its type.
pub fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    let items: Vec<String> = match raw(d)? {
        toml::Value::String(s) => split_list(&s),
        toml::Value::Array(a) => a
            .into_iter()
            .map(|x| x.as_str().map(str::to_owned).ok_or_else(|| D::Error::custom("expected a list of strings")))
            .collect::<Result<_, _>>()?,
        v => return Err(D::Error::custom(format!("expected a string or a list of strings, found {}", v.type_str()))),
    };
    items.iter().map(|s| s.parse().map_err(D::Error::custom)).collect()
}

/// The items of `a, b,c`, trimmed, empty ones dropped.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// A string `check` accepts.
pub fn checked<'de, D: Deserializer<'de>>(
    d: D,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<String, D::Error> {
    let s = text(d)?;
    check(&s).map_err(D::Error::custom)?;
    Ok(s)
}

/// The "is not one of" message of a name outside `names`.
pub fn not_one_of(s: &str, names: &[&str]) -> String {
    format!("`{s}` is not one of {}", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, Default, PartialEq)]
    #[serde(default)]
    struct Sample {
        #[serde(deserialize_with = "int::<_, _, 1, 64>")]
        n: usize,
        #[serde(deserialize_with = "fraction")]
        share: f64,
        #[serde(deserialize_with = "list")]
        names: Vec<String>,
        #[serde(deserialize_with = "maybe")]
        url: Option<String>,
    }

    fn read(text: &str) -> Result<Sample, String> {
        toml::from_str::<Sample>(text).map_err(|e| e.message().to_owned())
    }

    #[test]
    fn each_reader_accepts_its_values_and_words_what_it_refuses() {
        let s = read("n = 4\nshare = 1\nnames = \"a, b,,c\"\nurl = \"\"\n").unwrap();
        assert_eq!(s, Sample { n: 4, share: 1.0, names: vec!["a".into(), "b".into(), "c".into()], url: None });
        assert_eq!(read("names = [\"x\"]\nurl = \"u\"\n").unwrap().url.as_deref(), Some("u"));
        assert_eq!(read("n = 65").unwrap_err(), "65 is out of range 1..=64");
        assert_eq!(read("n = \"many\"").unwrap_err(), "expected an integer, found string");
        assert_eq!(read("share = 1.5").unwrap_err(), "1.5 must lie between 0 and 1");
        assert_eq!(read("names = 3").unwrap_err(), "expected a string or a list of strings, found integer");
        assert_eq!(read("url = true").unwrap_err(), "expected a string, found boolean");
    }
}
