"""Reads every record of the given topics with kafka-python, an independent Kafka client,
and prints one JSON line per record: {"topic", "partition", "key", "value"}.

It reads each partition up to its end offset when it starts (the callers read after the
producers have finished): all of it, however slowly the broker answers. Waiting for the
topics to be idle instead ended early on a loaded machine, missing the last batches.
Exits 1 if the end is not reached within --deadline-s.

usage: kafka_read.py BOOTSTRAP TOPIC... [--protocol P] [--mechanism M] [--user U]
                     [--password-env VAR] [--cafile F]
"""

import argparse
import json
import os
import sys
import time

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
    p.add_argument("--deadline-s", type=float, default=120.0)
    a = p.parse_args()
    opts = dict(
        bootstrap_servers=a.bootstrap,
        security_protocol=a.protocol,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        api_version_auto_timeout_ms=10000,
    )
    if a.mechanism:
        opts.update(sasl_mechanism=a.mechanism, sasl_plain_username=a.user,
                    sasl_plain_password=os.environ[a.password_env])
    if a.cafile:
        opts.update(ssl_cafile=a.cafile, ssl_check_hostname=True)
    consumer = KafkaConsumer(**opts)
    parts = [TopicPartition(t, n) for t in a.topics for n in sorted(consumer.partitions_for_topic(t) or ())]
    if not parts:
        consumer.close()
        return
    consumer.assign(parts)
    consumer.seek_to_beginning()
    end = consumer.end_offsets(parts)
    deadline = time.monotonic() + a.deadline_s
    out = sys.stdout
    while any(consumer.position(tp) < end[tp] for tp in parts):
        if time.monotonic() > deadline:
            behind = {f"{tp.topic}/{tp.partition}": end[tp] - consumer.position(tp) for tp in parts}
            sys.exit(f"kafka_read: the end offsets not reached in {a.deadline_s} s; records left: {behind}")
        for tp, messages in consumer.poll(timeout_ms=1000).items():
            for m in messages:
                key = m.key.decode() if m.key is not None else None
                out.write(json.dumps({"topic": m.topic, "partition": m.partition, "key": key,
                                      "value": json.loads(m.value)}) + "\n")
    consumer.close()


if __name__ == "__main__":
    main()
