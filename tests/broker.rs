//! The Kafka-compatible broker the streaming tests run against: `make test` must have
//! installed tansu, and a private instance must answer the Kafka protocol on loopback.

use crate::common;

use std::io::{Read, Write};

/// Sends a Kafka ApiVersions v0 request and returns (correlation id, error code, api keys).
fn api_versions(addr: &str) -> (i32, i16, Vec<i16>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let client = b"genims-test";
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes()); // ApiVersions
    body.extend_from_slice(&0i16.to_be_bytes()); // version 0
    body.extend_from_slice(&4242i32.to_be_bytes()); // correlation id
    body.extend_from_slice(&(client.len() as i16).to_be_bytes());
    body.extend_from_slice(client);
    s.write_all(&(body.len() as i32).to_be_bytes()).unwrap();
    s.write_all(&body).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut resp = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut resp).unwrap();
    let i32_at = |o: usize| i32::from_be_bytes(resp[o..o + 4].try_into().unwrap());
    let i16_at = |o: usize| i16::from_be_bytes(resp[o..o + 2].try_into().unwrap());
    let n = i32_at(6) as usize;
    let keys = (0..n).map(|k| i16_at(10 + k * 6)).collect();
    (i32_at(0), i16_at(4), keys)
}

#[test]
fn private_tansu_broker_speaks_kafka() {
    let broker = common::Broker::start();
    let (correlation, error, keys) = api_versions(&broker.addr);
    assert_eq!(correlation, 4242, "the broker echoes the correlation id");
    assert_eq!(error, 0, "ApiVersions must succeed");
    for key in [0i16, 3, 19] {
        assert!(keys.contains(&key), "broker lacks API key {key} (Produce=0, Metadata=3, CreateTopics=19): {keys:?}");
    }
}
