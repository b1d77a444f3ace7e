"""Checks genims's OPC UA server with an independent client (asyncua) against a backfill of
the same window.

    opcua_check.py browse URL DIR        the tree equals DIR/genims_master_data.json
    opcua_check.py subscribe URL DIR END subscriptions through the stream equal the backfill
                                         (DIR/*.csv) up to END (YYYY-MM-DD HH:MM:SS, UTC)
    opcua_check.py history URL DIR FROM TO MACHINE PATTERN
                                         once the stream passed TO: HistoryRead of [FROM, TO)
                                         equals the backfill (continuation points too); then
                                         MACHINE's InjectFault(PATTERN) makes an episode
                                         (printed as EPISODE <id>) and a second is refused
    opcua_check.py secure URL PKI USER PASS
                                         a client certificate is refused until moved from
                                         PKI/rejected to PKI/trusted; then SignAndEncrypt
                                         sessions work with both secure policies; anonymous
                                         access and a wrong password are refused

Prints one line per finding and exits 1 on the first mismatch, naming what differs.
"""

import asyncio
import csv
import glob
import json
import logging
import os
import sys
import time
from datetime import datetime, timezone

from asyncua import Client, ua

# The client's own warnings (revised intervals, a publish loop ended by the server's
# shutdown) are not findings.
logging.getLogger("asyncua").setLevel(logging.CRITICAL)

NS_URI = "urn:genims:plant"
UNECE = "http://www.opcfoundation.org/UA/units/un/cefact"
# The SCADA variables a subscription to a machine watches, and how the CSV spells them.
STATE = ["machine_state", "oee_percentage", "parts_produced_cumulative", "program_number", "fault_code"]


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def ts_of(text):
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp())


def secs(dt):
    return int(dt.replace(tzinfo=timezone.utc).timestamp()) if dt.tzinfo is None else int(dt.timestamp())


async def connect(url, **kw):
    """A connected client, retrying while the server starts."""
    deadline = time.time() + 60
    while True:
        client = Client(url, timeout=30)
        if "user" in kw:
            client.set_user(kw["user"])
            client.set_password(kw["password"])
        try:
            await client.connect()
            return client
        except (OSError, asyncio.TimeoutError):
            if time.time() > deadline:
                raise
            await asyncio.sleep(0.2)


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


async def browse(url, d):
    master = json.load(open(os.path.join(d, "genims_master_data.json")))
    client = await connect(url)
    try:
        ns = await client.get_namespace_index(NS_URI)
        plant = await client.nodes.objects.get_child([f"{ns}:Plant"])
        under = sorted([(await c.read_browse_name()).Name for c in await plant.get_children()])
        if under != sorted(f["factory_id"] for f in master["factories"]):
            fail(f"Plant holds {under}: not the factories (no GroundTruth unless asked)")
        tree = {}
        for f in await plant.get_children():
            fid = (await f.read_browse_name()).Name
            for line in await f.get_children():
                lid = (await line.read_browse_name()).Name
                for m in await line.get_children():
                    mid = (await m.read_browse_name()).Name
                    kids = [(await k.read_browse_name()).Name for k in await m.get_children()]
                    tree[mid] = (fid, lid, (await m.read_display_name()).Text, sorted(kids))
        want = {
            m["machine_id"]: (m["factory_id"], m["line_id"], m["machine_name"]) for m in master["machines"]
        }
        if set(tree) != set(want):
            fail(f"machines served {len(tree)}, master data {len(want)}: differ by {sorted(set(tree) ^ set(want))[:5]}")
        sensors = {}
        for s in master["sensors"]:
            sensors.setdefault(s["machine_id"], []).append(s)
        for mid, (fid, lid, name, kids) in tree.items():
            if (fid, lid, name) != want[mid]:
                fail(f"{mid} sits at {(fid, lid, name)}, master data says {want[mid]}")
            expect = sorted([s["sensor_id"] for s in sensors.get(mid, [])] + ["State", "InjectFault", "ClearFault"])
            if kids != expect:
                fail(f"{mid}'s children {kids} are not its sensors and State {expect}")
        # Every sensor's type, unit and ranges, read in bulk.
        ids, checks = [], []
        for s in master["sensors"]:
            base = f"ns={ns};s={s['machine_id']}/{s['sensor_id']}"
            for prop, want_v in [
                ("EURange", (s["measurement_range_min"], s["measurement_range_max"])),
                ("NormalRange", (s["normal_operating_min"], s["normal_operating_max"])),
                ("WarningRange", (s["warning_threshold_min"], s["warning_threshold_max"])),
                ("CriticalRange", (s["critical_threshold_min"], s["critical_threshold_max"])),
                ("EngineeringUnits", s["measurement_unit"]),
            ]:
                ids.append(client.get_node(f"{base}/{prop}"))
                checks.append((s["sensor_id"], prop, want_v))
        values = []
        for k in range(0, len(ids), 1000):
            values += await client.read_values(ids[k : k + 1000])
        for (sid, prop, want_v), v in zip(checks, values):
            if prop == "EngineeringUnits":
                if v.NamespaceUri != UNECE or v.UnitId <= 0 or v.Description.Text != want_v:
                    fail(f"{sid} EngineeringUnits {v} is not {want_v} in UNECE codes")
            elif (v.Low, v.High) != tuple(float(x) for x in want_v):
                fail(f"{sid} {prop} is {(v.Low, v.High)}, master data says {want_v}")
        typedefs = set()
        for s in master["sensors"][:50]:
            node = client.get_node(f"ns={ns};s={s['machine_id']}/{s['sensor_id']}")
            typedefs.add((await node.read_type_definition()).Identifier)
        if typedefs != {ua.ObjectIds.AnalogItemType}:
            fail(f"sensors' type definitions {typedefs}, not AnalogItemType")
        print(f"OK browse: {len(tree)} machines, {len(master['sensors'])} sensors with units and ranges", flush=True)
    finally:
        await client.disconnect()


STATUS = {
    "good": ua.StatusCodes.Good,
    "stale": ua.StatusCodes.UncertainLastUsableValue,
    "invalid": ua.StatusCodes.BadSensorFailure,
    "gap": ua.StatusCodes.UncertainNoCommunicationLastUsableValue,
}


def expected(d):
    """The backfill's readings {(sensor, ts): {(value, status)}}, its SCADA rows, the
    sensors chosen (covering every defect with a status of its own), and the gaps."""
    labels = rows(os.path.join(d, "data_quality_labels.csv"))
    stale = [(l["sensor_id"], ts_of(l["start_time"]), ts_of(l["end_time"])) for l in labels if l["defect"] == "stale"]
    gaps = [(l["machine_id"], ts_of(l["start_time"])) for l in labels if l["defect"] == "gap"]
    readings, by_sensor = {}, {}
    for r in rows(glob.glob(os.path.join(d, "sensor_data_*.csv"))[0]):
        t, v, sid = ts_of(r["timestamp"]), float(r["measurement_value"]), r["sensor_id"]
        by_sensor.setdefault(sid, r["machine_id"])
        if any(s == sid and a <= t < b for s, a, b in stale):
            status = STATUS["stale"]
        elif r["quality"] == "out_of_range" and v == -32768.0:
            status = STATUS["invalid"]
        elif r["quality"] == "out_of_range":
            status = ua.StatusCodes.UncertainEngineeringUnitsExceeded
        elif r["quality"] == "uncertain":
            status = ua.StatusCodes.UncertainSensorNotAccurate
        else:
            status = STATUS["good"]
        readings.setdefault((sid, t), set()).add((v, status))
    pick = []
    for kind in ["stale", "invalid"]:
        pick += sorted({l["sensor_id"] for l in labels if l["defect"] == kind and l["sensor_id"]})[:6]
    gap_machines = sorted({m for m, _ in gaps})
    pick += [s for s, m in sorted(by_sensor.items()) if m in gap_machines][:4]
    pick = list(dict.fromkeys(pick))
    pick += [s for s in sorted(by_sensor) if s not in pick][: max(0, 20 - len(pick))]
    pick = pick[:20]
    scada = {}
    for r in rows(glob.glob(os.path.join(d, "scada_machine_data_*.csv"))[0]):
        scada[(r["machine_id"], ts_of(r["timestamp"]))] = r
    machines = sorted({by_sensor[s] for s in pick})[:3]
    machines += [m for m in sorted({m for m, _ in scada}) if m not in machines][: 5 - len(machines)]
    return readings, by_sensor, pick, scada, machines, gaps


def scada_value(column, text):
    if text == "":
        return None
    if column in ("oee_percentage",):
        return float(text)
    if column == "parts_produced_cumulative":
        return int(text)
    return text


class Recorder:
    def __init__(self):
        self.seen = []

    def datachange_notification(self, node, val, data):
        dv = data.monitored_item.Value
        self.seen.append((node.nodeid.Identifier, dv.Value.Value, dv.StatusCode.value, dv.SourceTimestamp))


async def subscribe(url, d, end):
    readings, by_sensor, pick, scada, machines, gaps = expected(d)
    end_ts = ts_of(end)
    # The test starts the stream on this line: a client slowed by a loaded machine has read
    # the backfill before the stream's clock runs, and connects as the server comes up.
    print("loaded the backfill", flush=True)
    client = await connect(url)
    try:
        ns = await client.get_namespace_index(NS_URI)
        rec = Recorder()
        sub = await client.create_subscription(
            ua.CreateSubscriptionParameters(RequestedPublishingInterval=50, RequestedMaxKeepAliveCount=100,
                                            RequestedLifetimeCount=3000, MaxNotificationsPerPublish=0),
            rec,
        )
        nodes = [f"{by_sensor[s]}/{s}" for s in pick] + [f"{m}/State/{c}" for m in machines for c in STATE]
        flt = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
        requests = []
        for k, n in enumerate(nodes):
            p = ua.MonitoringParameters(ClientHandle=k + 1, SamplingInterval=0, Filter=flt, QueueSize=1000, DiscardOldest=False)
            rv = ua.ReadValueId(NodeId=ua.NodeId(n, ns), AttributeId=ua.AttributeIds.Value)
            requests.append(ua.MonitoredItemCreateRequest(ItemToMonitor=rv, MonitoringMode=ua.MonitoringMode.Reporting,
                                                          RequestedParameters=p))
        results = await sub.create_monitored_items(requests)
        if len(results) != len(nodes) or not all(isinstance(r, int) for r in results):
            fail(f"monitored items not created: {results[:3]}")
        # Deadbands: four sensors again, in a subscription of their own, banded by the
        # median change between their readings (so some values pass and some do not): two as
        # a percent of their EURange, two absolute.
        banded = Recorder()
        sub2 = await client.create_subscription(100, banded)
        bands, ranges, chosen = [], {}, pick[-4:]
        for k, sid in enumerate(chosen):
            series = [v for (s2, t), vs in sorted(readings.items()) if s2 == sid for v, _ in vs]
            steps = sorted(abs(a - b) for a, b in zip(series, series[1:]))
            ranges[sid] = max(steps[len(steps) // 2], 1e-3)
            if k < 2:
                r = await client.get_node(ua.NodeId(f"{by_sensor[sid]}/{sid}/EURange", ns)).read_value()
                kind, value = ua.DeadbandType.Percent, 100.0 * ranges[sid] / (r.High - r.Low)
            else:
                kind, value = ua.DeadbandType.Absolute, ranges[sid]
            f = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValue, DeadbandType=kind, DeadbandValue=value)
            p = ua.MonitoringParameters(ClientHandle=1000 + k, SamplingInterval=0, Filter=f, QueueSize=1000,
                                        DiscardOldest=False)
            rv = ua.ReadValueId(NodeId=ua.NodeId(f"{by_sensor[sid]}/{sid}", ns), AttributeId=ua.AttributeIds.Value)
            bands.append(ua.MonitoredItemCreateRequest(ItemToMonitor=rv, MonitoringMode=ua.MonitoringMode.Reporting,
                                                       RequestedParameters=p))
        banded_ids = await sub2.create_monitored_items(bands)
        if not all(isinstance(r, int) for r in banded_ids):
            fail(f"deadband items not created: {banded_ids}")

        # Until the last tick's readings came and what the server still held for this client
        # arrived (nothing new for 2 s), or the stream went quiet for 30 s.
        deadline = time.time() + 180
        last_len, quiet = 0, time.time()
        while time.time() < deadline:
            await asyncio.sleep(0.5)
            if len(rec.seen) + len(banded.seen) != last_len:
                last_len, quiet = len(rec.seen) + len(banded.seen), time.time()
            latest = max((secs(x[3]) for x in rec.seen if x[3] is not None and "/State/" not in x[0]), default=0)
            if time.time() - quiet > (2 if latest >= end_ts - 10 else 30):
                break
        for s in (sub, sub2):
            try:
                await s.delete()
            except Exception:
                pass  # the stream ended at --end and its server with it
    finally:
        try:
            await client.disconnect()
        except Exception:
            pass
    check_readings(rec.seen, readings, by_sensor, pick, gaps, end_ts)
    check_scada(rec.seen, scada, machines, end_ts)
    check_deadbands(banded.seen, rec.seen, ranges)


def check_deadbands(banded, everything, bands):
    """Each value a deadband passed differs from the one it passed before by more than the
    band, and it passes fewer values than the subscription without one got."""
    last, passed, plain = {}, 0, 0
    for ident, value, status, source in banded:
        sid = ident.split("/")[1]
        if status != ua.StatusCodes.Good or not isinstance(value, float):
            last.pop(sid, None)
            continue
        if sid in last and abs(value - last[sid]) <= bands[sid] * (1 - 1e-9):
            fail(f"{sid}: {value} passed a deadband of {bands[sid]} after {last[sid]}")
        last[sid] = value
        passed += 1
    plain = sum(1 for ident, *_ in everything if ident.split("/")[1] in bands and "/State/" not in ident)
    if passed <= len(bands) or passed >= plain:
        fail(f"deadbands passed {passed} values of {plain}")
    print(f"OK deadbands: {passed} of {plain} values passed (percent of EURange and absolute)", flush=True)


def check_readings(seen, readings, by_sensor, pick, gaps, end_ts):
    got = {}
    statuses = set()
    waiting = 0
    for ident, value, status, source in seen:
        if source is None or status == ua.StatusCodes.BadWaitingForInitialData:
            # Subscribed before the stream's first tick: the value not yet obtained.
            if value is not None or status != ua.StatusCodes.BadWaitingForInitialData or source is not None:
                fail(f"{ident}: {value} status {status:#x} at {source}: a variable not yet written must be empty, "
                     f"BadWaitingForInitialData, without a source timestamp")
            waiting += 1
            continue
        if "/State/" in ident:
            continue
        sid = ident.split("/")[1]
        t = secs(source)
        statuses.add(status)
        if status == STATUS["gap"]:
            if (by_sensor[sid], t) not in gaps:
                fail(f"{sid}: NoCommunication at {t}, but no gateway gap of {by_sensor[sid]} starts then")
            continue
        want = readings.get((sid, t))
        if not want or (value, status) not in want:
            fail(f"{sid} at {datetime.fromtimestamp(t, timezone.utc)}: received {value} status {status:#x}, "
                 f"backfill has {sorted(want) if want else 'no reading'}")
        got.setdefault(sid, set()).add((t, value, status))
    if not got:
        fail("no reading received")
    # Completeness: from the first reading received (the subscription's start) to the end.
    start = max(min(t for t, _, _ in v) for v in got.values())
    missing = [
        (sid, t, v, st) for (sid, t), vs in readings.items() if sid in pick and start < t < end_ts - 10
        for v, st in vs if (t, v, st) not in got.get(sid, set())
    ]
    if missing:
        fail(f"{len(missing)} backfill readings never arrived, e.g. {sorted(missing)[:3]}")
    n = sum(len(v) for v in got.values())
    kinds = [k for k, code in STATUS.items() if code in statuses]
    print(f"OK subscribe: {n} readings of {len(got)} sensors equal the backfill from "
          f"{datetime.fromtimestamp(start, timezone.utc):%H:%M:%S}; statuses seen: {', '.join(kinds)}; "
          f"{waiting} variables waiting for their first value at the subscription", flush=True)


def check_scada(seen, scada, machines, end_ts):
    n = 0
    for ident, value, status, source in seen:
        if "/State/" not in ident or source is None:
            continue
        mid, _, column = ident.split("/")
        row = scada.get((mid, secs(source)))
        if row is None:
            fail(f"{ident}: value at {source} but the backfill has no SCADA row then")
        want = scada_value(column, row[column])
        if isinstance(value, float) and want is not None:
            ok = abs(value - want) < 1e-9
        else:
            ok = value == want
        if not ok:
            fail(f"{ident} at {source}: received {value!r}, backfill {want!r}")
        n += 1
    if n < len(machines) * len(STATE) * 3:
        fail(f"only {n} SCADA values received for {len(machines)} machines")
    print(f"OK scada: {n} values of {len(machines)} machines equal the backfill", flush=True)


def to_dt(text):
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)


EVENT_FIELDS = {
    "MachineStateEventType": ["Machine", "PreviousState", "State"],
    "MachineFaultEventType": ["Machine", "FaultCode", "FaultCategory", "FaultSeverity", "Description"],
    "MaintenanceEventType": ["Machine", "MaintenanceType", "Category", "Priority", "Description"],
    "FaultPhaseEventType": ["Machine", "Sensor", "Pattern", "Phase", "EpisodeId"],
}


def event_filter(ns, types, extra=()):
    """Each field selected from the type that defines it (asyncua's subscribe_events names
    BaseEventType for every field, which async-opcua refuses for a subtype's own fields);
    events of `types` only."""
    f = ua.EventFilter()

    def select(type_id, name, name_ns):
        op = ua.SimpleAttributeOperand(TypeDefinitionId=type_id, BrowsePath=[ua.QualifiedName(name, name_ns)],
                                       AttributeId=ua.AttributeIds.Value)
        f.SelectClauses.append(op)

    base = ua.NodeId(ua.ObjectIds.BaseEventType)
    for name in ["EventType", "Time", "Message", "SourceName"]:
        select(base, name, 0)
    for t in list(types) + list(extra):
        for name in EVENT_FIELDS[t]:
            select(ua.NodeId(t, ns), name, ns)
    elements = []

    def where(ts):
        k = len(elements)
        if len(ts) == 1:
            elements.append(ua.ContentFilterElement(FilterOperator=ua.FilterOperator.OfType,
                                                    FilterOperands=[ua.LiteralOperand(Value=ua.Variant(ua.NodeId(ts[0], ns)))]))
            return k
        elements.append(None)
        left, right = where(ts[:1]), where(ts[1:])
        elements[k] = ua.ContentFilterElement(FilterOperator=ua.FilterOperator.Or,
                                              FilterOperands=[ua.ElementOperand(Index=left), ua.ElementOperand(Index=right)])
        return k

    where(list(types))
    f.WhereClause.Elements = elements
    return f


async def watch_events(client, ns):
    """Subscriptions to the Server object's events (the plant's OT events, asking for
    ground truth's fields too: none may come) and to GroundTruth's."""
    ot, truth = Events(), Events()
    sub = await client.create_subscription(50, ot)
    kinds = ["MachineStateEventType", "MachineFaultEventType", "MaintenanceEventType"]
    await sub.subscribe_events(client.nodes.server, evfilter=event_filter(ns, kinds, ["FaultPhaseEventType"]),
                               queuesize=10000)
    plant = await client.nodes.objects.get_child([f"{ns}:Plant"])
    gt = await plant.get_child([f"{ns}:GroundTruth"])
    sub2 = await client.create_subscription(50, truth)
    await sub2.subscribe_events(gt, evfilter=event_filter(ns, ["FaultPhaseEventType"]), queuesize=10000)
    return ot, truth


def field(e, name):
    for k, v in e.items():
        if k.split(":")[-1] == name:
            return v.Value
    return None


class Events:
    def __init__(self):
        self.seen = []

    def event_notification(self, event):
        self.seen.append(event.get_event_props_as_fields_dict())


def check_events(ot, truth, d, t1, since):
    scada = {}
    for r in rows(glob.glob(os.path.join(d, "scada_machine_data_*.csv"))[0]):
        scada.setdefault(r["machine_id"], []).append((ts_of(r["timestamp"]), r["machine_state"]))
    changes = set()
    for mid, series in scada.items():
        series.sort()
        changes |= {(mid, t, a, b) for (_, a), (t, b) in zip(series, series[1:]) if a != b}
    states = 0
    for e in ot.seen:
        if field(e, "Pattern") is not None or field(e, "Phase") is not None:
            fail(f"an OT event carries a label: {e}")
        if field(e, "PreviousState") is not None:
            key = (field(e, "SourceName"), secs(field(e, "Time")), field(e, "PreviousState"), field(e, "State"))
            if key not in changes:
                fail(f"a state event {key} is no change of the backfill's SCADA rows")
            states += 1
    if states == 0:
        fail(f"no state change event among {len(ot.seen)} events")
    labels = {int(l["episode_id"]): l for l in rows(os.path.join(d, "fault_labels.csv"))}
    phases = 0
    for e in truth.seen:
        ep, phase = field(e, "EpisodeId"), field(e, "Phase")
        label = labels.get(ep)
        column = {"onset": "onset_time", "warning": "warning_time", "critical": "critical_time",
                  "fault": "fault_time", "end": "end_time"}[phase]
        if label is None or ts_of(label[column]) != secs(field(e, "Time")) or label["pattern"] != field(e, "Pattern"):
            fail(f"a phase event {ep} {phase} at {field(e, 'Time')} is not its label's")
        phases += 1
    due = sum(1 for l in labels.values() for c in ["onset_time", "warning_time", "critical_time", "fault_time"]
              if l[c] and since <= ts_of(l[c]) < t1)
    if due == 0:
        fail(f"no phase of the labels falls between the subscription ({since}) and {t1}: subscribed too late")
    if phases < due:
        fail(f"{phases} phase events, but the labels have {due} phases due since {since}")
    print(f"OK events: {states} state changes equal the SCADA rows', {len(ot.seen) - states} faults and work "
          f"orders, no label among them; {phases} phases under GroundTruth equal the labels", flush=True)


async def history(url, d, frm, to, machine, pattern):
    readings, by_sensor, pick, scada, machines, gaps = expected(d)
    t0, t1 = ts_of(frm), ts_of(to)
    client = await connect(url)
    try:
        ns = await client.get_namespace_index(NS_URI)
        ot, truth = await watch_events(client, ns)
        clock = client.get_node(ua.NodeId(f"{machines[0]}/State/machine_state", ns))
        # Events before the subscriptions are nobody's: phases are expected from the
        # stream's clock then on (a loaded machine connects late).
        at = (await clock.read_data_value()).SourceTimestamp
        since = max(ts_of("2026-03-01 06:20:00"), secs(at) + 60 if at is not None else 0)
        deadline = time.time() + 120
        while True:
            dv = await clock.read_data_value()
            if dv.SourceTimestamp is not None and secs(dv.SourceTimestamp) >= t1 + 60:
                break
            if time.time() > deadline:
                fail(f"the stream never passed {to}: {dv}")
            await asyncio.sleep(0.2)
        # State events arrive as the stream runs: a client that subscribed late (a loaded
        # machine) waits for the first while the stream goes on (its window runs 40 minutes
        # past `to`), rather than judging the few minutes it saw.
        while not any(field(e, "PreviousState") is not None for e in ot.seen):
            dv = await clock.read_data_value()
            if time.time() > deadline or (dv.SourceTimestamp is not None and secs(dv.SourceTimestamp) >= t1 + 38 * 60):
                break
            await asyncio.sleep(0.2)
        n = 0
        for sid in pick:
            node = client.get_node(ua.NodeId(f"{by_sensor[sid]}/{sid}", ns))
            got = await node.read_raw_history(to_dt(frm), to_dt(to))
            seen = set()
            for dv in got:
                t, st = secs(dv.SourceTimestamp), dv.StatusCode.value
                if st == STATUS["gap"]:
                    if (by_sensor[sid], t) not in gaps:
                        fail(f"{sid} history: NoCommunication at {t} without a gateway gap")
                    continue
                if not t0 <= t < t1:
                    fail(f"{sid} history: {t} outside [{frm}, {to})")
                seen.add((t, dv.Value.Value, st))
            want = {(t, v, st) for (s2, t), vs in readings.items() if s2 == sid and t0 <= t < t1 for v, st in vs}
            if seen != want:
                fail(f"{sid} history differs from the backfill: {len(seen)} against {len(want)} values, "
                     f"e.g. only received {sorted(seen - want)[:2]}, never {sorted(want - seen)[:2]}")
            n += len(seen)
        # A read in pages of 50 through continuation points is the same read.
        node = client.get_node(ua.NodeId(f"{by_sensor[pick[0]]}/{pick[0]}", ns))
        whole = await node.read_raw_history(to_dt(frm), to_dt(to))
        details = ua.ReadRawModifiedDetails(IsReadModified=False, StartTime=to_dt(frm), EndTime=to_dt(to),
                                            NumValuesPerNode=50, ReturnBounds=False)
        pages, cp = [], None
        while True:
            r = await node.history_read(details, cp)
            r.StatusCode.check()
            pages.append(len(r.HistoryData.DataValues))
            whole_part = r.HistoryData.DataValues
            if [x.Value.Value for x in whole_part] != [x.Value.Value for x in whole[sum(pages) - len(whole_part):sum(pages)]]:
                fail("a page of a continued history read differs from the whole read")
            cp = r.ContinuationPoint
            if not cp:
                break
        if sum(pages) != len(whole) or len(pages) < 2:
            fail(f"pages {pages} do not make the whole read of {len(whole)}")
        m = 0
        for mid in machines:
            for column in STATE:
                node = client.get_node(ua.NodeId(f"{mid}/State/{column}", ns))
                got = await node.read_raw_history(to_dt(frm), to_dt(to))
                want = {(t, scada_value(column, r[column])) for (m2, t), r in scada.items() if m2 == mid and t0 <= t < t1}
                seen = {(secs(dv.SourceTimestamp), dv.Value.Value) for dv in got}
                if seen != want:
                    fail(f"{mid}/State/{column} history: {sorted(seen ^ want)[:3]} differ")
                m += len(seen)
        check_events(ot, truth, d, t1, since)
        print(f"OK history: {n} readings of {len(pick)} sensors and {m} SCADA values of [{frm}, {to}) "
              f"equal the backfill; pages {pages}", flush=True)
        inject = client.get_node(ua.NodeId(f"{machine}/InjectFault", ns))
        owner = client.get_node(ua.NodeId(machine, ns))
        out = await owner.call_method(inject, ua.Variant(pattern, ua.VariantType.String),
                                      ua.Variant(0.0, ua.VariantType.Double), ua.Variant("", ua.VariantType.String))
        episode, created, body = out
        if not created or episode <= 0 or json.loads(body)["pattern"] != pattern:
            fail(f"InjectFault answered {out}")
        print(f"EPISODE {episode}", flush=True)
        try:
            await owner.call_method(inject, ua.Variant(pattern, ua.VariantType.String),
                                    ua.Variant(0.0, ua.VariantType.Double), ua.Variant("", ua.VariantType.String))
            fail("a second injection into a machine in an episode was accepted")
        except ua.UaStatusCodeError as e:
            print(f"OK a second injection is refused: {type(e).__name__}", flush=True)
    finally:
        await client.disconnect()


async def secure_client(url, d, policy, user, password):
    from asyncua.crypto import security_policies
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID
    from pathlib import Path

    key, cert = Path(d) / "client-key.pem", Path(d) / "client-cert.der"
    uri = "urn:genims:test-client"
    await setup_self_signed_certificate(key, cert, uri, "localhost", [ExtendedKeyUsageOID.CLIENT_AUTH],
                                        {"commonName": "genims-test-client"})
    c = Client(url, timeout=10)
    c.application_uri = uri
    c.set_user(user)
    c.set_password(password)
    cls = {"Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256,
           "Aes256Sha256RsaPss": security_policies.SecurityPolicyAes256Sha256RsaPss}[policy]
    await c.set_security(cls, str(cert), str(key), mode=ua.MessageSecurityMode.SignAndEncrypt)
    return c


async def secure(url, pki, user, password):
    import shutil
    import tempfile

    d = tempfile.mkdtemp()
    c = await secure_client(url, d, "Basic256Sha256", user, password)
    try:
        await c.connect()
        fail("a client certificate nobody trusted was accepted")
    except (ua.UaStatusCodeError, ConnectionError, asyncio.TimeoutError, OSError) as e:
        print(f"OK untrusted certificate refused: {type(e).__name__}", flush=True)
    rejected = glob.glob(os.path.join(pki, "rejected", "*.der"))
    if len(rejected) != 1:
        fail(f"the refused certificate is not in {pki}/rejected: {rejected}")
    shutil.move(rejected[0], os.path.join(pki, "trusted", os.path.basename(rejected[0])))
    for policy in ["Basic256Sha256", "Aes256Sha256RsaPss"]:
        c = await secure_client(url, d, policy, user, password)
        await c.connect()
        ns = await c.get_namespace_index(NS_URI)
        plant = await c.nodes.objects.get_child([f"{ns}:Plant"])
        n = len(await plant.get_children())
        await c.disconnect()
        print(f"OK {policy} SignAndEncrypt with a trusted certificate: {n} factories", flush=True)
    # Anonymous: refused when the server does not allow it.
    try:
        c = Client(url, timeout=10)
        await c.connect()
        await c.disconnect()
        fail("an anonymous session was accepted")
    except ua.UaStatusCodeError as e:
        print(f"OK anonymous refused: {type(e).__name__}", flush=True)
    try:
        c = Client(url, timeout=10)
        c.set_user(user)
        c.set_password(password + "-wrong")
        await c.connect()
        await c.disconnect()
        fail("a wrong password was accepted")
    except ua.UaStatusCodeError as e:
        print(f"OK wrong password refused: {type(e).__name__}", flush=True)
    c = await connect(url, user=user, password=password)
    await c.disconnect()
    print("OK the right password is accepted", flush=True)


def main():
    cmd = sys.argv[1]
    if cmd == "browse":
        asyncio.run(browse(sys.argv[2], sys.argv[3]))
    elif cmd == "subscribe":
        asyncio.run(subscribe(sys.argv[2], sys.argv[3], sys.argv[4]))
    elif cmd == "history":
        asyncio.run(history(*sys.argv[2:8]))
    elif cmd == "secure":
        asyncio.run(secure(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]))
    else:
        fail(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
