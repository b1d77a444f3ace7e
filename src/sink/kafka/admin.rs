//! Topic settings that rskafka's client does not send: topics created with `retention.ms`
//! and `segment.ms` (from `[retention] days`), and an existing topic's settings read back
//! (DescribeConfigs), so that one made with other settings is left alone with a warning.
//!
//! Spoken through rskafka's own messenger and protocol types (public with its
//! `unstable-fuzzing` feature; Cargo.toml pins the version), on a connection made with the
//! producer's TLS and SASL settings ([`Access::admin`]), to the cluster's controller.
//! DescribeConfigs v1–v2, which rskafka lacks, is written here from its primitives.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use anyhow::{anyhow, Result};
use rskafka::protocol::api_key::ApiKey;
use rskafka::protocol::api_version::{ApiVersion, ApiVersionRange};
use rskafka::protocol::error::Error as ProtocolError;
use rskafka::protocol::messages::{
    CreateTopicConfig, CreateTopicRequest, CreateTopicsRequest, MetadataRequest, ReadVersionedError, ReadVersionedType,
    RequestBody, WriteVersionedError, WriteVersionedType,
};
use rskafka::protocol::primitives::{Boolean, Int16, Int32, Int8, NullableString, String_};
use rskafka::protocol::traits::{ReadType, WriteType};

use super::access::{Access, AdminConnection};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// The settings genims gives the topics it creates for a stream that keeps `days` days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicRetention {
    /// `retention.ms`: the horizon.
    pub retention_ms: i64,
    /// `segment.ms`: a fourteenth of the horizon, between an hour and a day. Kafka removes
    /// whole segments, so a record outlives the horizon by at most one segment.
    pub segment_ms: i64,
}

impl TopicRetention {
    /// `None` for 0 days (keep everything: the broker's defaults).
    pub fn for_days(days: u32) -> Option<TopicRetention> {
        let retention_ms = i64::from(days) * DAY_MS;
        (days > 0).then(|| TopicRetention { retention_ms, segment_ms: (retention_ms / 14).clamp(HOUR_MS, DAY_MS) })
    }

    /// The settings as the broker names them.
    pub fn configs(&self) -> [(&'static str, String); 2] {
        [("retention.ms", self.retention_ms.to_string()), ("segment.ms", self.segment_ms.to_string())]
    }
}

/// Creates `names` with `partitions` and `retention`; returns, per topic, the broker's
/// refusal if any (`TopicAlreadyExists` among them).
pub async fn create(
    access: &Access,
    names: &[String],
    partitions: i32,
    retention: TopicRetention,
) -> Result<Vec<(String, Option<ProtocolError>)>> {
    let conn = controller(access).await?;
    let configs = || {
        retention
            .configs()
            .into_iter()
            .map(|(k, v)| CreateTopicConfig {
                name: String_(k.into()),
                value: NullableString(Some(v)),
                tagged_fields: None,
            })
            .collect()
    };
    let topics = names
        .iter()
        .map(|n| CreateTopicRequest {
            name: String_(n.clone()),
            num_partitions: Int32(partitions),
            replication_factor: Int16(1),
            assignments: vec![],
            configs: configs(),
            tagged_fields: None,
        })
        .collect();
    let request = CreateTopicsRequest { topics, timeout_ms: Int32(5_000), validate_only: None, tagged_fields: None };
    let response = conn.request(request).await.map_err(|e| anyhow!("Kafka did not create the topics: {e}"))?;
    Ok(response.topics.into_iter().map(|t| (t.name.0, t.error)).collect())
}

/// The `retention.ms` of each of `names` as the broker reports it (`None`: not reported).
pub async fn retention_of(access: &Access, names: &[String]) -> Result<BTreeMap<String, Option<String>>> {
    let conn = controller(access).await?;
    let request = DescribeConfigsRequest { topics: names.to_vec() };
    let response = conn.request(request).await.map_err(|e| anyhow!("Kafka did not describe the topics: {e}"))?;
    let mut out = BTreeMap::new();
    for r in response.resources {
        if let Some(e) = r.error {
            return Err(anyhow!("Kafka did not describe topic {}: {e}", r.name));
        }
        let value = r.configs.into_iter().find(|(k, _)| k == "retention.ms").and_then(|(_, v)| v);
        out.insert(r.name, value);
    }
    Ok(out)
}

/// A connection to the cluster's controller (topics are created there): the first
/// bootstrap broker that answers, asked where the controller is.
async fn controller(access: &Access) -> Result<AdminConnection> {
    let first = access.admin(None).await?;
    let meta = first
        .request(MetadataRequest { topics: Some(vec![]), allow_auto_topic_creation: None })
        .await
        .map_err(|e| anyhow!("Kafka did not say which broker is its controller: {e}"))?;
    let Some(id) = meta.controller_id else { return Ok(first) };
    match meta.brokers.iter().find(|b| b.node_id == id) {
        Some(b) if !first.reached(&b.host.0, b.port.0) => {
            access.admin(Some(format!("{}:{}", b.host.0, b.port.0))).await
        }
        _ => Ok(first),
    }
}

/// DescribeConfigs (API key 32) v1–v2 for topics, asking for all their settings without
/// synonyms. (Naming the settings wanted would be smaller, but tansu 0.6 cannot read such a
/// request, nor answer v0.)
#[derive(Debug)]
struct DescribeConfigsRequest {
    topics: Vec<String>,
}

/// The resource type of a topic in DescribeConfigs.
const TOPIC: i8 = 2;

/// One topic's answer: its error, if any, and each setting asked for and its value.
#[derive(Debug)]
struct DescribedTopic {
    name: String,
    error: Option<ProtocolError>,
    configs: Vec<(String, Option<String>)>,
}

#[derive(Debug)]
struct DescribeConfigsResponse {
    resources: Vec<DescribedTopic>,
}

impl RequestBody for DescribeConfigsRequest {
    type ResponseBody = DescribeConfigsResponse;
    const API_KEY: ApiKey = ApiKey::DescribeConfigs;
    const API_VERSION_RANGE: ApiVersionRange = ApiVersionRange::new(ApiVersion(Int16(1)), ApiVersion(Int16(2)));
    const FIRST_TAGGED_FIELD_IN_REQUEST_VERSION: ApiVersion = ApiVersion(Int16(4));
}

fn len(n: usize) -> Int32 {
    Int32(i32::try_from(n).unwrap_or(i32::MAX))
}

impl<W: Write> WriteVersionedType<W> for DescribeConfigsRequest {
    fn write_versioned(&self, w: &mut W, _version: ApiVersion) -> Result<(), WriteVersionedError> {
        len(self.topics.len()).write(w)?;
        for t in &self.topics {
            Int8(TOPIC).write(w)?;
            String_(t.clone()).write(w)?;
            Int32(-1).write(w)?; // every setting
        }
        Boolean(false).write(w)?; // no synonyms
        Ok(())
    }
}

/// An array's length; a null array (-1) is empty.
fn read_len<R: Read>(r: &mut R) -> Result<usize, ReadVersionedError> {
    Ok(usize::try_from(Int32::read(r)?.0).unwrap_or(0))
}

impl<R: Read> ReadVersionedType<R> for DescribeConfigsResponse {
    fn read_versioned(r: &mut R, _version: ApiVersion) -> Result<Self, ReadVersionedError> {
        let _throttle_ms = Int32::read(r)?;
        let mut resources = Vec::new();
        for _ in 0..read_len(r)? {
            let error = ProtocolError::new(Int16::read(r)?.0);
            let _message = NullableString::read(r)?;
            let _kind = Int8::read(r)?;
            let name = String_::read(r)?.0;
            let mut configs = Vec::new();
            for _ in 0..read_len(r)? {
                let key = String_::read(r)?.0;
                let value = NullableString::read(r)?.0;
                let (_read_only, _source, _sensitive) = (Boolean::read(r)?, Int8::read(r)?, Boolean::read(r)?);
                for _ in 0..read_len(r)? {
                    let (_name, _value, _source) = (String_::read(r)?, NullableString::read(r)?, Int8::read(r)?);
                }
                configs.push((key, value));
            }
            resources.push(DescribedTopic { name, error, configs });
        }
        Ok(DescribeConfigsResponse { resources })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_a_fourteenth_of_the_horizon_between_an_hour_and_a_day() {
        assert_eq!(TopicRetention::for_days(0), None);
        let two = TopicRetention::for_days(2).unwrap();
        assert_eq!((two.retention_ms, two.segment_ms), (172_800_000, 172_800_000 / 14));
        assert_eq!(TopicRetention::for_days(14).unwrap().segment_ms, DAY_MS);
        assert_eq!(TopicRetention::for_days(365).unwrap().segment_ms, DAY_MS);
        assert!(TopicRetention::for_days(1).unwrap().segment_ms >= HOUR_MS);
    }

    /// The request is DescribeConfigs v1's layout byte for byte; a response in that layout
    /// (a synonym included) reads back.
    #[test]
    fn describe_configs_v1_round_trips_its_layout() {
        let mut out = Vec::new();
        let req = DescribeConfigsRequest { topics: vec!["t".into()] };
        req.write_versioned(&mut out, ApiVersion(Int16(1))).unwrap();
        assert_eq!(out, vec![0, 0, 0, 1, 2, 0, 1, b't', 0xff, 0xff, 0xff, 0xff, 0]);

        let mut resp = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 2, 0, 1, b't', 0, 0, 0, 1, 0, 12];
        resp.extend_from_slice(b"retention.ms");
        resp.extend_from_slice(&[0, 4]);
        resp.extend_from_slice(b"1000");
        resp.extend_from_slice(&[0, 1, 0, 0, 0, 0, 1, 0, 1, b'x', 0xff, 0xff, 5]);
        let r = DescribeConfigsResponse::read_versioned(&mut &resp[..], ApiVersion(Int16(1))).unwrap();
        assert_eq!(r.resources.len(), 1);
        assert_eq!(r.resources[0].name, "t");
        assert!(r.resources[0].error.is_none());
        assert_eq!(r.resources[0].configs, vec![("retention.ms".to_string(), Some("1000".to_string()))]);
    }
}
