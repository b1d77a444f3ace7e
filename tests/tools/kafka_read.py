"""Reads every record of the given topics with kafka-python, an independent Kafka client,
until the topics have been idle for a while, and prints one JSON line per record:
{"topic", "partition", "key", "value"}.

usage: kafka_read.py BOOTSTRAP TOPIC... [--protocol P] [--mechanism M] [--user U]
                     [--password-env VAR] [--cafile F]
"""

import argparse
import json
import os
import sys

from kafka import KafkaConsumer


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
    consumer = KafkaConsumer(*a.topics, **opts)
    out = sys.stdout
    for m in consumer:
        key = m.key.decode() if m.key is not None else None
        out.write(json.dumps({"topic": m.topic, "partition": m.partition, "key": key,
                              "value": json.loads(m.value)}) + "\n")
    consumer.close()


if __name__ == "__main__":
    main()
