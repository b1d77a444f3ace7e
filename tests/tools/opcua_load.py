"""Load for the OPC UA benchmark (scripts/bench-opcua.sh): N sessions, each subscribed to
every sensor of MASTER (a `genims seed --out json` file) with sampling interval 0, for
SECONDS; prints the notifications received. Or, with `history`, the latency of HistoryRead
of one sensor-hour, REPEAT times: the median and the largest, in milliseconds.

    opcua_load.py subscribe URL MASTER N SECONDS
    opcua_load.py history URL MASTER FROM TO REPEAT
"""

import asyncio
import json
import logging
import statistics
import sys
import time
from datetime import datetime, timezone

from asyncua import Client, ua

logging.getLogger("asyncua").setLevel(logging.CRITICAL)
NS_URI = "urn:genims:plant"


class Count:
    def __init__(self):
        self.n = 0

    def datachange_notification(self, node, val, data):
        self.n += 1


async def session(url, sensors, seconds, count):
    async with Client(url, timeout=60) as c:
        ns = await c.get_namespace_index(NS_URI)
        sub = await c.create_subscription(1000, count)
        nodes = [c.get_node(ua.NodeId(f"{m}/{s}", ns)) for m, s in sensors]
        for k in range(0, len(nodes), 1000):
            await sub.subscribe_data_change(nodes[k:k + 1000], queuesize=10, sampling_interval=0)
        await asyncio.sleep(seconds)


async def subscribe(url, master, n, seconds):
    m = json.load(open(master))
    sensors = [(s["machine_id"], s["sensor_id"]) for s in m["sensors"]]
    counts = [Count() for _ in range(n)]
    await asyncio.gather(*(session(url, sensors, seconds, c) for c in counts))
    print(sum(c.n for c in counts))


async def history(url, master, frm, to, repeat):
    m = json.load(open(master))
    s = m["sensors"][0]
    a = datetime.strptime(frm, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    b = datetime.strptime(to, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    async with Client(url, timeout=60) as c:
        ns = await c.get_namespace_index(NS_URI)
        node = c.get_node(ua.NodeId(f"{s['machine_id']}/{s['sensor_id']}", ns))
        took, n = [], 0
        for _ in range(repeat):
            t = time.perf_counter()
            n = len(await node.read_raw_history(a, b))
            took.append((time.perf_counter() - t) * 1000)
    print(f"{statistics.median(took):.1f} {max(took):.1f} {n}")


if __name__ == "__main__":
    if sys.argv[1] == "subscribe":
        asyncio.run(subscribe(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))
    else:
        asyncio.run(history(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])))
