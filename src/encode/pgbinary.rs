//! PostgreSQL's binary COPY format: per row a field count, per field an `i32` length (-1 for
//! NULL) and the value in network byte order; numerics in base-10000 digits.

use crate::clock::DAY;
use crate::encode::text::scaled;
use crate::rows::Cells;

/// PostgreSQL's binary COPY format: per field an i32 length (-1 for NULL) and the bytes.
pub(crate) struct Bin<'a> {
    pub(crate) out: &'a mut Vec<u8>,
}

/// Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01.
const PG_EPOCH_SECS: i64 = 946_684_800;

impl Cells for Bin<'_> {
    fn null(&mut self) {
        self.out.extend_from_slice(&(-1i32).to_be_bytes());
    }
    fn text(&mut self, s: &str) {
        self.out.extend_from_slice(&(s.len() as i32).to_be_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }
    fn int4(&mut self, v: i32) {
        self.out.extend_from_slice(&4i32.to_be_bytes());
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn int8(&mut self, v: i64) {
        self.out.extend_from_slice(&8i32.to_be_bytes());
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    fn dec(&mut self, v: f64, scale: u8) {
        write_pg_numeric(self.out, scaled(v, scale), scale);
    }
    fn boolean(&mut self, b: bool) {
        self.out.extend_from_slice(&1i32.to_be_bytes());
        self.out.push(u8::from(b));
    }
    fn ts(&mut self, t: i64) {
        self.out.extend_from_slice(&8i32.to_be_bytes());
        self.out.extend_from_slice(&((t - PG_EPOCH_SECS) * 1_000_000).to_be_bytes());
    }
    fn date(&mut self, days: i64) {
        self.out.extend_from_slice(&4i32.to_be_bytes());
        self.out.extend_from_slice(&((days - PG_EPOCH_SECS / DAY) as i32).to_be_bytes());
    }
    fn time(&mut self, secs: i64) {
        self.out.extend_from_slice(&8i32.to_be_bytes());
        self.out.extend_from_slice(&(secs * 1_000_000).to_be_bytes());
    }
}

/// Encodes `scaled / 10^scale` in PostgreSQL's binary numeric format (length-prefixed):
/// ndigits, weight, sign, dscale, then base-10000 digits.
pub fn write_pg_numeric(out: &mut Vec<u8>, scaled: i64, scale: u8) {
    let neg = scaled < 0;
    let mut abs = u128::from(scaled.unsigned_abs());
    // Align the fraction to whole base-10000 groups.
    let frac_groups = u32::from(scale).div_ceil(4);
    abs *= 10u128.pow(frac_groups * 4 - u32::from(scale));
    let mut digits: Vec<i16> = Vec::with_capacity(8);
    while abs > 0 {
        digits.push((abs % 10_000) as i16);
        abs /= 10_000;
    }
    // digits are little-endian groups; the lowest `frac_groups` are the fraction.
    let total = digits.len() as i32;
    let mut weight = total - 1 - frac_groups as i32;
    digits.reverse();
    // Strip leading and trailing zero groups.
    let lead = digits.iter().take_while(|&&d| d == 0).count();
    digits.drain(..lead);
    weight -= lead as i32;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    let len = 8 + 2 * digits.len();
    out.extend_from_slice(&(len as i32).to_be_bytes());
    out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
    out.extend_from_slice(&(weight as i16).to_be_bytes());
    out.extend_from_slice(&(if neg && !digits.is_empty() { 0x4000u16 } else { 0 }).to_be_bytes());
    out.extend_from_slice(&i16::from(scale).to_be_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
}

/// The binary COPY header and trailer.
pub const PG_COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
pub const PG_COPY_TRAILER: &[u8] = &[0xff, 0xff];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::text::{CsvText, Text};

    /// Binary numerics, timestamps and booleans round-trip through a real PostgreSQL: what the
    /// server reads from our binary COPY prints exactly as our CSV encoder spells it.
    #[test]
    fn binary_copy_round_trips_through_postgres() {
        use futures_util::SinkExt as _;
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let url =
            std::env::var("GENIMS_TEST_PG").unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".into());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = rt
            .block_on(crate::db::connect(&crate::db::Target::parse(&url).unwrap()))
            .expect("PostgreSQL must be up (make test starts it)");
        let mut runner = TestRunner::new(Config { cases: 16, ..Config::default() });
        let value = (-1e9f64..1e9, 0u8..=4, any::<bool>(), 0i64..4_000_000_000);
        runner
            .run(&proptest::collection::vec(value, 1..200), |rows| {
                rt.block_on(async {
                    client.batch_execute("CREATE TEMP TABLE IF NOT EXISTS rt (v numeric(15,4), s int, b boolean, t timestamp); TRUNCATE rt").await.unwrap();
                    let sink = client.copy_in::<_, bytes::Bytes>("COPY rt (v, s, b, t) FROM STDIN (FORMAT binary)").await.unwrap();
                    futures_util::pin_mut!(sink);
                    let mut buf = PG_COPY_HEADER.to_vec();
                    let mut want = Vec::new();
                    for (i, &(v, scale, b, t)) in rows.iter().enumerate() {
                        // Column scale 4 holds any value written with scale <= 4.
                        let v = (v * 10f64.powi(i32::from(scale))).round() / 10f64.powi(i32::from(scale));
                        buf.extend_from_slice(&4i16.to_be_bytes());
                        Bin { out: &mut buf }.dec(v, 4);
                        Bin { out: &mut buf }.int4(i as i32);
                        Bin { out: &mut buf }.boolean(b);
                        Bin { out: &mut buf }.ts(t);
                        let mut text = Vec::new();
                        let mut c = Text::<CsvText>::new(&mut text, &["v", "b", "t"]);
                        c.dec(v, 4);
                        c.boolean(b);
                        c.ts(t);
                        want.push(String::from_utf8(text).unwrap());
                    }
                    buf.extend_from_slice(PG_COPY_TRAILER);
                    sink.send(bytes::Bytes::from(buf)).await.unwrap();
                    sink.finish().await.unwrap();
                    let got: Vec<String> = client
                        .query("SELECT v::text || ',' || b::text || ',' || to_char(t, 'YYYY-MM-DD HH24:MI:SS') FROM rt ORDER BY s", &[])
                        .await
                        .unwrap()
                        .iter()
                        .map(|r| r.get(0))
                        .collect();
                    let got: Vec<String> = got.into_iter().map(|g| g.replace(",t,", ",true,").replace(",f,", ",false,")).collect();
                    prop_assert_eq!(got, want);
                    Ok(())
                })
            })
            .unwrap();
    }

    #[test]
    fn numeric_binary_layout() {
        let mut v = Vec::new();
        write_pg_numeric(&mut v, 123_456_789, 4); // 12345.6789
                                                  // len 16: ndigits 4, weight 1, sign 0, dscale 4, digits 1 2345 6789 0? -> 1,2345,6789
        assert_eq!(&v[4..6], &3i16.to_be_bytes(), "three base-10000 digits");
        assert_eq!(&v[6..8], &1i16.to_be_bytes(), "weight 1");
        assert_eq!(&v[12..18], &[0, 1, 0x09, 0x29, 0x1a, 0x85]);
        let mut z = Vec::new();
        write_pg_numeric(&mut z, 0, 2);
        assert_eq!(z, [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2]);
    }
}
