"""Reads every record of the given topics with kafka-python, an independent Kafka client,
and prints one JSON line per record: {"topic", "partition", "key", "value"}.

The callers read after the producers have finished. The reader reads until the topics
have been idle for --idle-ms, then holds each partition's position against its end offset:
a partition not read to its end (a broker slow to answer on a loaded machine looks idle)
is read on, with a line on stderr saying so. Exits 1, naming what is left, if the ends are
not reached within --deadline-s (an alarm, so that nothing inside the client outlasts it).

usage: kafka_read.py BOOTSTRAP TOPIC... [--protocol P] [--mechanism M] [--user U]
                     [--password-env VAR] [--cafile F] [--idle-ms MS] [--deadline-s S]
"""

import argparse
import json
import os
import signal
import sys

from kafka import KafkaConsumer, TopicPartition


def main():
    p = argparse.ArgumentParser()
    p.add_argument("bootstrap")
    p.add_argument("topics", nargs="+")
    p.add_argument("--protocol", default="PLAINTEXT")
    p.add_argument("--mechanism")
    p.add_argument("--user")
    p.add_argument("--password-env")
    p.add_argument("--cafile")
    p.add_argument("--idle-ms", type=int, default=4000)
    p.add_argument("--deadline-s", type=int, default=180)
    a = p.parse_args()
    opts = dict(
        bootstrap_servers=a.bootstrap,
        security_protocol=a.protocol,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=a.idle_ms,
        api_version_auto_timeout_ms=10000,
    )
    if a.mechanism:
        opts.update(sasl_mechanism=a.mechanism, sasl_plain_username=a.user,
                    sasl_plain_password=os.environ[a.password_env])
    if a.cafile:
        opts.update(ssl_cafile=a.cafile, ssl_check_hostname=True)
    left = {}

    def too_late(*_):
        sys.exit(f"kafka_read: the topics' end offsets not reached in {a.deadline_s} s; records left: {left or 'unknown'}")

    signal.signal(signal.SIGALRM, too_late)
    signal.alarm(a.deadline_s)
    consumer = KafkaConsumer(*a.topics, **opts)
    out = sys.stdout
    read = {}  # partition -> the offset after the last record read
    while True:
        for m in consumer:
            key = m.key.decode() if m.key is not None else None
            out.write(json.dumps({"topic": m.topic, "partition": m.partition, "key": key,
                                  "value": json.loads(m.value)}) + "\n")
            read[TopicPartition(m.topic, m.partition)] = m.offset + 1
        # The partitions from the metadata, not the consumer's assignment (empty until its
        # first fetch), and positions of our own (the consumer's `position`, called once the
        # topics had fallen idle, waited inside the client until the deadline).
        parts = [TopicPartition(t, n) for t in a.topics for n in sorted(consumer.partitions_for_topic(t) or ())]
        ends = consumer.end_offsets(parts) if parts else {}
        unread = [tp for tp in parts if tp not in read]
        starts = consumer.beginning_offsets(unread) if unread else {}
        left = {f"{tp.topic}/{tp.partition}": ends[tp] - read.get(tp, starts.get(tp, 0)) for tp in parts}
        left = {tp: n for tp, n in left.items() if n > 0}
        if not left:
            break
        print(f"kafka_read: idle for {a.idle_ms} ms before the end; reading on: {left}", file=sys.stderr, flush=True)
    signal.alarm(0)
    consumer.close()


if __name__ == "__main__":
    main()
