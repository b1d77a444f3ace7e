"""An independent MQTT client for the tests (paho-mqtt; Sparkplug B payloads decoded with
the module protoc generates from proto/sparkplug_b.proto).

  mqtt_sub.py sub HOST PORT FILTER OUT --end-topic T [--sparkplug] [--client-id ID]
      subscribes at QoS 1 in a persistent session (id --client-id, or one of its own), so a
      reconnection loses nothing (and a redelivery the broker marks DUP of a message already
      received is dropped), prints "ready" once subscribed, and writes every message as a
      JSON line {"topic", "retain", "payload"} to OUT: the payload's JSON object (UNS), or
      the decoded Sparkplug payload. Exits when a message on T arrives: the test publishes
      it once everything it waits for was acknowledged, so the broker delivers it last.
  mqtt_sub.py rebirth HOST PORT GROUP NODE
      publishes an NCMD asking edge node GROUP/NODE for a rebirth.
  mqtt_sub.py state HOST PORT HOST_ID ONLINE TIMESTAMP
      publishes, retained at QoS 1, the Sparkplug 3.0 STATE of primary host HOST_ID:
      {"online": ONLINE, "timestamp": TIMESTAMP} (a host application's part in the tests).
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import paho.mqtt.client as mqtt

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "..", "..", "proto", "sparkplug_b.proto")


def sparkplug_module():
    """Compiles the specification's .proto with grpcio-tools' protoc and imports it."""
    proto_dir = os.path.dirname(os.path.abspath(PROTO))
    with tempfile.TemporaryDirectory(prefix="sparkplug-py-") as out:
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_dir}", f"--python_out={out}", "sparkplug_b.proto"],
            check=True,
        )
        sys.path.insert(0, out)
        import sparkplug_b_pb2  # noqa: E402

        sys.path.remove(out)
    return sparkplug_b_pb2


def metric_json(m):
    d = {"alias": m.alias if m.HasField("alias") else None}
    for f in ("name", "timestamp", "datatype", "is_historical", "is_null"):
        if m.HasField(f):
            d[f] = getattr(m, f)
    kind = m.WhichOneof("value")
    d["value"] = getattr(m, kind) if kind else None
    return d


def decode(pb, payload):
    p = pb.Payload()
    p.ParseFromString(payload)
    return {
        "timestamp": p.timestamp if p.HasField("timestamp") else None,
        "seq": p.seq if p.HasField("seq") else None,
        "metrics": [metric_json(m) for m in p.metrics],
    }


def client(client_id):
    """A client; with an id, its session persists, so a reconnection (a broker restart, a
    keep-alive missed on a loaded machine) loses nothing the broker queued for it."""
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id or "",
        clean_session=client_id is None,
        protocol=mqtt.MQTTv311,
    )
    c.max_queued_messages_set(0)
    c.reconnect_delay_set(min_delay=0.2, max_delay=1)
    return c


def sub(host, port, filt, out_path, sparkplug, client_id, end_topic):
    pb = sparkplug_module() if sparkplug else None
    out = open(out_path, "w")
    state = {"n": 0, "ready": False, "end": False}

    def on_connect(c, _u, flags, rc, _p):
        # A reconnection that finds its session keeps its subscription: subscribing again
        # would make the broker replay every retained message as new.
        if rc == 0 and not flags.session_present:
            c.subscribe(filt, qos=1)

    def on_subscribe(_c, _u, _mid, _rc, _p):
        if not state["ready"]:
            state["ready"] = True
            print("ready", flush=True)

    seen = set()

    def on_message(_c, _u, msg):
        if msg.topic == end_topic:
            state["end"] = True
            return
        # A message the broker resends (DUP set) after this client lost its connection before
        # acknowledging it is QoS 1 between broker and subscriber, not a message genims sent
        # twice (genims's own resends reach us as new messages, without DUP): count it once.
        # So is a retained message replayed by a subscription made again (a reconnection
        # whose session the broker lost): it carries the retain flag, a forwarded one not.
        key = hashlib.sha1(msg.topic.encode() + b"\0" + msg.payload).digest()
        if (msg.dup or msg.retain) and key in seen:
            return
        seen.add(key)
        # Sparkplug 3.0's STATE messages are JSON, whatever the mode.
        payload = decode(pb, msg.payload) if pb and "/STATE/" not in msg.topic else json.loads(msg.payload)
        out.write(json.dumps({"topic": msg.topic, "retain": bool(msg.retain), "payload": payload}) + "\n")
        state["n"] += 1

    def on_disconnect(_c, _u, _f, rc, _p):
        print(f"disconnected ({rc}); reconnecting", file=sys.stderr, flush=True)

    c = client(client_id or f"genims-test-{os.getpid()}")
    c.on_disconnect = on_disconnect
    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    c.on_message = on_message
    c.connect(host, port, keepalive=60)
    c.loop_start()
    while not state["end"]:
        time.sleep(0.1)
    c.loop_stop()
    out.flush()
    out.close()
    print(f"received {state['n']}", flush=True)


def rebirth(host, port, group, node):
    pb = sparkplug_module()
    p = pb.Payload()
    p.timestamp = int(time.time() * 1000)
    m = p.metrics.add()
    m.name = "Node Control/Rebirth"
    m.datatype = 11
    m.boolean_value = True
    c = client(None)
    c.connect(host, port)
    c.loop_start()
    info = c.publish(f"spBv1.0/{group}/NCMD/{node}", p.SerializeToString(), qos=1)
    info.wait_for_publish(10)
    c.loop_stop()
    c.disconnect()


def state(host, port, host_id, online, timestamp):
    c = client(None)
    c.connect(host, port)
    c.loop_start()
    body = json.dumps({"online": online == "true", "timestamp": int(timestamp)})
    info = c.publish(f"spBv1.0/STATE/{host_id}", body, qos=1, retain=True)
    info.wait_for_publish(10)
    c.loop_stop()
    c.disconnect()


def main(argv):
    if argv[1] == "state":
        state(argv[2], int(argv[3]), argv[4], argv[5], argv[6])
        return
    if argv[1] == "rebirth":
        rebirth(argv[2], int(argv[3]), argv[4], argv[5])
        return
    host, port, filt, out_path = argv[2], int(argv[3]), argv[4], argv[5]
    rest = argv[6:]
    opt = lambda name: rest[rest.index(name) + 1] if name in rest else None  # noqa: E731
    sub(host, port, filt, out_path, "--sparkplug" in rest, opt("--client-id"), opt("--end-topic"))


if __name__ == "__main__":
    main(sys.argv)
