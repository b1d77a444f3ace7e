//! One MQTT connection: a rumqttc client, the task that drives its event loop, and the
//! count of messages the broker has acknowledged (QoS 1) or that were written to the
//! socket (QoS 0), so a commit can wait until everything published so far is delivered.
//!
//! A connection is used until its first failure and then replaced (the sink's reset):
//! rumqttc would reconnect by itself, but a new connection is where Sparkplug's births
//! and a new `bdSeq` belong, and the stream re-sends its uncommitted batch anyway.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::sink::Fatal;

/// How long a new connection may take to be accepted.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(10);
/// How long the broker may keep a message waiting (no room in the client's queue, no
/// acknowledgement) before the connection counts as failed.
pub const STALL_LIMIT: Duration = Duration::from_secs(30);
/// Requests queued in the client before `publish` waits.
const CHANNEL: usize = 1024;

/// What the event loop task shares with the connection's owner.
#[derive(Default)]
struct Shared {
    /// Messages delivered: acknowledged (QoS 1) or written (QoS 0).
    done: AtomicU64,
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
    /// The broker refused the connection for good (credentials, client id, protocol):
    /// retrying cannot mend it.
    refused: AtomicBool,
    changed: Notify,
}

impl Shared {
    fn fail(&self, why: String, refused: bool) {
        let mut f = self.failure.lock().expect("not poisoned");
        if f.is_none() {
            *f = Some(why);
            self.refused.store(refused, Ordering::Release);
        }
        self.failed.store(true, Ordering::Release);
        self.changed.notify_waiters();
    }

    fn failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.failure.lock().expect("not poisoned").clone()
    }
}

pub struct Conn {
    client: AsyncClient,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
    qos: QoS,
    /// Messages handed to the client.
    published: u64,
    /// The broker, for messages.
    broker: Arc<str>,
}

impl Conn {
    /// Connects with `opts` and waits until the broker accepted the connection. Messages
    /// arriving on subscriptions go to `incoming`.
    pub async fn open(
        opts: MqttOptions,
        qos: QoS,
        broker: Arc<str>,
        incoming: Option<mpsc::UnboundedSender<rumqttc::Publish>>,
    ) -> Result<Conn> {
        let (client, events) = AsyncClient::new(opts, CHANNEL);
        let shared = Arc::new(Shared::default());
        let (up_tx, up) = oneshot::channel();
        let task = tokio::spawn(drive(events, Arc::clone(&shared), qos, Arc::clone(&broker), incoming, up_tx));
        let conn = Conn { client, shared, task, qos, published: 0, broker };
        match tokio::time::timeout(CONNECT_LIMIT, up).await {
            Ok(Ok(())) => Ok(conn),
            Ok(Err(_)) => {
                let why =
                    conn.failure().unwrap_or_else(|| format!("MQTT broker at {} closed the connection", conn.broker));
                if conn.shared.refused.load(Ordering::Acquire) {
                    Err(Fatal(why).into())
                } else {
                    Err(anyhow!(why))
                }
            }
            Err(_) => {
                bail!("MQTT broker at {} did not accept a connection within {} s", conn.broker, CONNECT_LIMIT.as_secs())
            }
        }
    }

    /// Why the connection failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.shared.failure()
    }

    fn check(&self) -> Result<()> {
        match self.failure() {
            Some(why) => Err(anyhow!(why)),
            None => Ok(()),
        }
    }

    /// Subscribes to `filter` (QoS 1).
    pub async fn subscribe(&self, filter: String) -> Result<()> {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .map_err(|e| anyhow!("cannot subscribe at the MQTT broker at {}: {e}", self.broker))
    }

    /// Hands one message to the client (waiting while its queue is full).
    pub async fn publish(&mut self, topic: String, retain: bool, payload: Vec<u8>) -> Result<()> {
        self.publish_with(topic, self.qos, retain, payload).await
    }

    /// [`Conn::publish`] with its own QoS (Sparkplug's death certificate is always QoS 1).
    pub async fn publish_with(&mut self, topic: String, qos: QoS, retain: bool, payload: Vec<u8>) -> Result<()> {
        self.check()?;
        match tokio::time::timeout(STALL_LIMIT, self.client.publish(topic, qos, retain, payload)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                return Err(anyhow!(self
                    .failure()
                    .unwrap_or_else(|| format!("lost the MQTT broker at {}", self.broker))))
            }
            Err(_) => bail!("MQTT broker at {} took no message for {} s", self.broker, STALL_LIMIT.as_secs()),
        }
        // A message of another QoS than the connection's (a death certificate as it
        // closes) is not waited for.
        self.published += u64::from(qos == self.qos);
        Ok(())
    }

    /// Waits until every message published so far was delivered (acknowledged at QoS 1),
    /// or the connection failed, or the broker stalled for [`STALL_LIMIT`].
    pub async fn settle(&self) -> Result<()> {
        let mut last = self.shared.done.load(Ordering::Acquire);
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            self.check()?;
            let done = self.shared.done.load(Ordering::Acquire);
            if done >= self.published {
                return Ok(());
            }
            if tokio::time::timeout(STALL_LIMIT, changed).await.is_err()
                && self.shared.done.load(Ordering::Acquire) == last
            {
                bail!(
                    "MQTT broker at {} acknowledged nothing for {} s ({} of {} messages outstanding)",
                    self.broker,
                    STALL_LIMIT.as_secs(),
                    self.published - done,
                    self.published
                );
            }
            last = self.shared.done.load(Ordering::Acquire);
        }
    }

    /// Disconnects cleanly after the messages published so far.
    pub async fn close(mut self) -> Result<()> {
        let settled = self.settle().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.disconnect()).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.task).await;
        settled
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Polls the event loop until the connection fails: counts deliveries, forwards incoming
/// messages, reports the first acceptance on `up`.
async fn drive(
    mut events: EventLoop,
    shared: Arc<Shared>,
    qos: QoS,
    broker: Arc<str>,
    incoming: Option<mpsc::UnboundedSender<rumqttc::Publish>>,
    up: oneshot::Sender<()>,
) {
    let mut up = Some(up);
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                if let Some(up) = up.take() {
                    let _ = up.send(());
                }
            }
            Ok(Event::Incoming(Packet::PubAck(_))) if qos == QoS::AtLeastOnce => {
                shared.done.fetch_add(1, Ordering::AcqRel);
                shared.changed.notify_waiters();
            }
            Ok(Event::Outgoing(Outgoing::Publish(_))) if qos == QoS::AtMostOnce => {
                shared.done.fetch_add(1, Ordering::AcqRel);
                shared.changed.notify_waiters();
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if let Some(tx) = &incoming {
                    let _ = tx.send(p);
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                shared.fail(format!("disconnected from the MQTT broker at {broker}"), false);
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let refused =
                    matches!(&e, ConnectionError::ConnectionRefused(c) if *c != ConnectReturnCode::ServiceUnavailable);
                shared.fail(describe(&e, &broker), refused);
                return;
            }
        }
    }
}

/// One line about a failed connection, naming the broker (never a credential).
pub fn describe(e: &ConnectionError, broker: &str) -> String {
    match e {
        ConnectionError::ConnectionRefused(code) => {
            let why = match code {
                ConnectReturnCode::BadUserNamePassword => "bad user name or password ([mqtt] username, password)",
                ConnectReturnCode::NotAuthorized => "not authorized",
                ConnectReturnCode::BadClientId => "client id refused ([mqtt] client_id)",
                ConnectReturnCode::ServiceUnavailable => "service unavailable",
                ConnectReturnCode::RefusedProtocolVersion => "MQTT 3.1.1 not supported",
                ConnectReturnCode::Success => "accepted",
            };
            format!("MQTT broker at {broker} refused the connection: {why}")
        }
        ConnectionError::Io(io) => format!("cannot reach the MQTT broker at {broker}: {io}"),
        ConnectionError::Tls(tls) => format!("TLS with the MQTT broker at {broker} failed: {tls}"),
        ConnectionError::NetworkTimeout => format!("MQTT broker at {broker} did not answer in time"),
        other => format!("lost the MQTT broker at {broker}: {other}"),
    }
}
