"""Creates a topic with settings, or prints the settings of topics, with kafka-python's
admin client (an independent Kafka client).

usage: kafka_topics.py create BOOTSTRAP TOPIC PARTITIONS [KEY=VALUE...]
       kafka_topics.py describe BOOTSTRAP TOPIC...    (one JSON object: topic -> settings)
"""

import json
import sys

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic


def main():
    verb, bootstrap, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    if verb == "create":
        topic, partitions, settings = rest[0], int(rest[1]), dict(kv.split("=", 1) for kv in rest[2:])
        admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=settings)])
        return
    resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in rest]
    out = {}
    for response in admin.describe_configs(resources):
        for resource in response.resources:
            _code, _message, _kind, name, entries = resource[:5]
            out[name] = {e[0]: e[1] for e in entries}
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
