// genims live console: polls the daemon's JSON endpoints and draws the plant, one machine's
// traces and the episode timeline as SVG. Hand-written, no library. The control token lives
// only in the `token` variable below: never in a cookie, storage or a URL.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
// The plant is polled twice per simulated 10-s tick (once a second at most, every five
// seconds at least), an open machine half as often; a change made here polls at once.
const TICK_S = 10;
let plantEveryMs = 1000;
let token = "";
let plant = null;
let selected = null;
let seriesPending = false;

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

const seconds = (iso) => (iso ? Date.parse(iso) / 1000 : null);
const short = (iso) => (iso ? iso.replace("T", " ").replace("Z", "") : "–");

function headers(json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

async function getJson(path) {
  const r = await fetch(path, { cache: "no-store" });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.status);
  return body;
}

function banner(text) {
  const b = $("banner");
  b.textContent = text || "";
  b.hidden = !text;
}

// ---- the plant -------------------------------------------------------------------------

async function pollPlant() {
  try {
    plant = await getJson("/api/plant");
    plantEveryMs = plant.speed === null ? 1000 : Math.min(5000, Math.max(1000, (TICK_S * 1000) / plant.speed / 2));
    drawPlant(plant);
    drawTimeline(plant);
    const failing = plant.sinks.filter((s) => s.failing).map((s) => s.name);
    banner(failing.length ? "sink " + failing.join(", ") + " is failing to deliver (retrying); the stream goes on" : "");
  } catch (e) {
    banner("the daemon does not answer: " + e.message);
  }
}

function drawPlant(p) {
  $("stream").textContent = p.stream;
  $("clock").textContent = short(p.at);
  $("speed").textContent = p.speed === null ? "max" : p.speed + "×";
  $("sinks").replaceChildren(
    ...p.sinks.map((s) =>
      el("span", { class: "sink " + (s.failing ? "failing" : "ok"), "data-sink": s.name }, s.name + (s.failing ? " failing" : " ok")),
    ),
  );
  $("control-open").hidden = p.control.token_required;
  $("control-token").hidden = !p.control.token_required;
  const tree = $("tree");
  tree.dataset.statesAt = p.states_at || "";
  const open = selected;
  tree.replaceChildren(
    ...p.factories.map((f) =>
      el(
        "div",
        { class: "factory", "data-factory": f.id },
        el("h2", {}, f.name + " ", el("small", {}, f.id)),
        ...f.lines.map((l) =>
          el(
            "div",
            { class: "line", "data-line": l.id },
            el("h3", {}, l.name + " ", el("small", {}, l.id), el("span", { class: "oee", "data-oee": l.oee }, l.oee === null ? "OEE –" : "OEE " + l.oee.toFixed(1) + " %")),
            el(
              "div",
              { class: "machines" },
              ...l.machines.map((m) => {
                const tile = el(
                  "a",
                  {
                    href: "#" + m.id,
                    class: "tile state-" + m.state + (m.id === open ? " selected" : ""),
                    "data-machine": m.id,
                    "data-state": m.state,
                    title: m.name + " (" + m.type + "): " + m.state + (m.oee === null ? "" : ", OEE " + m.oee + " %"),
                  },
                  el("span", { class: "mid" }, m.id.replace(/^MCH-0*/, "")),
                  el("span", { class: "mtype" }, m.type.replace(/_/g, " ")),
                );
                if (m.episode) {
                  tile.append(el("span", { class: "truth", "data-episode": m.episode.id, title: m.episode.pattern + ": " + m.episode.phase }, "◆"));
                }
                return tile;
              }),
            ),
          ),
        ),
      ),
    ),
  );
  if (p.truncated) tree.append(el("p", {}, "Only the first machines are listed: " + p.machines + " in all."));
}

// ---- the episode timeline --------------------------------------------------------------

const PHASES = [
  ["onset", "warning"],
  ["warning", "critical"],
  ["critical", "fault"],
  ["fault", "end"],
];

function drawTimeline(p) {
  const now = seconds(p.at);
  const box = $("timeline-chart");
  const rows = $("episodes").tBodies[0];
  if (now === null) return;
  const from = now - 6 * 3600, to = now + 3600;
  const W = 900, left = 220, rowH = 18, H = 24 + rowH * p.episodes.length;
  const x = (t) => left + ((Math.min(Math.max(t, from), to) - from) / (to - from)) * (W - left - 10);
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", class: "timeline" });
  for (let h = -6; h <= 1; h++) {
    g.append(svg("line", { x1: x(now + h * 3600), x2: x(now + h * 3600), y1: 14, y2: H, class: "grid" }));
    const label = svg("text", { x: x(now + h * 3600), y: 10, class: "axis" });
    label.textContent = h === 0 ? "now" : (h > 0 ? "+" : "") + h + " h";
    g.append(label);
  }
  p.episodes.forEach((e, i) => {
    const y = 18 + i * rowH;
    const row = svg("g", { "data-episode": e.id, class: "episode " + e.source });
    const name = svg("text", { x: 4, y: y + 11, class: "label" });
    name.textContent = `${e.machine_id} ${e.pattern}`;
    row.append(name);
    for (const [a, b] of PHASES) {
      const t0 = seconds(e[a]), t1 = seconds(e[b]);
      if (t1 <= from || t0 >= to || t1 <= t0) continue;
      row.append(svg("rect", { x: x(t0), y, width: Math.max(1, x(t1) - x(t0)), height: rowH - 4, class: "phase-" + a }));
    }
    g.append(row);
  });
  g.append(svg("line", { x1: x(now), x2: x(now), y1: 12, y2: H, class: "now" }));
  box.replaceChildren(g);
  rows.replaceChildren(
    ...p.episodes.map((e) => {
      const clear = e.source === "injected" && e.phase !== "repair"
        ? el("button", { class: "clear", "data-clear": e.id }, "clear")
        : "";
      if (clear) clear.addEventListener("click", () => clearEpisode(e.id));
      return el(
        "tr",
        { "data-episode": e.id, "data-phase": e.phase },
        el("td", {}, String(e.id)),
        el("td", {}, el("a", { href: "#" + e.machine_id }, e.machine_id)),
        el("td", {}, e.pattern + (e.sensor_id ? " (" + e.sensor_id + ")" : "")),
        el("td", { class: "phase-text-" + e.phase }, e.phase),
        el("td", {}, short(e.onset)),
        el("td", {}, short(e.fault)),
        el("td", {}, short(e.end)),
        el("td", {}, e.source),
        el("td", {}, clear),
      );
    }),
  );
}

// ---- one machine ---------------------------------------------------------------------

function choose() {
  const id = decodeURIComponent(location.hash.slice(1));
  selected = id || null;
  $("machine").hidden = !selected;
  $("inject-result").textContent = "";
  if (selected) {
    $("machine-title").textContent = selected;
    $("charts").replaceChildren();
    fillPatterns();
    pollMachine();
  }
  if (plant) drawPlant(plant);
}

async function pollMachine() {
  if (!selected || seriesPending) return;
  seriesPending = true;
  const id = selected;
  try {
    const s = await getJson("/api/machines/" + encodeURIComponent(id) + "/series");
    if (id === selected) drawMachine(s);
  } catch (e) {
    $("machine-facts").textContent = "no series: " + e.message;
  } finally {
    seriesPending = false;
  }
}

function drawMachine(s) {
  const m = s.machine;
  $("machine-title").textContent = `${m.id} ${m.name}`;
  const sc = s.scada || {};
  const facts = [
    `${m.type.replace(/_/g, " ")} on ${m.line_name} (${m.line}), ${m.factory}`,
    sc.machine_state ? `state ${sc.machine_state}, ${sc.operation_mode}` : "no SCADA row yet",
    sc.oee_percentage !== undefined && sc.oee_percentage !== null ? `OEE ${sc.oee_percentage} % (A ${sc.availability_percentage}, P ${sc.performance_percentage}, Q ${sc.quality_percentage})` : null,
    sc.parts_produced_shift !== undefined ? `parts this shift ${sc.parts_produced_shift}, rejected ${sc.parts_rejected_shift}` : null,
    sc.program_number ? `program ${sc.program_number}` : null,
    sc.fault_code ? `fault ${sc.fault_code}: ${sc.fault_description}` : null,
    `at ${short(s.at)}`,
  ].filter(Boolean);
  $("machine-facts").textContent = facts.join(" · ");
  $("machine-facts").dataset.state = sc.machine_state || "";
  $("machine-facts").dataset.at = sc.timestamp || "";
  drawStrip(s);
  $("charts").replaceChildren(...s.sensors.map((x) => chart(s, x)));
  $("records").replaceChildren(
    ...s.records.slice(-12).reverse().map((r) =>
      el("li", { "data-table": r.table }, r.table === "machine_faults"
        ? `fault ${r.row.fault_code} ${r.row.fault_description || ""}: ${short(r.row.fault_start_time)} → ${short(r.row.fault_end_time)}`
        : `maintenance ${r.row.maintenance_type}: ${short(r.row.actual_start)} → ${short(r.row.actual_end)} ${r.row.work_description || ""}`),
    ),
  );
  if (!s.records.length) $("records").append(el("li", {}, "none in the last " + plant?.history_minutes + " minutes"));
}

function drawStrip(s) {
  const n = s.states.length, W = 560, H = 16;
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "strip" });
  s.states.forEach((st, i) => {
    g.append(svg("rect", { x: (i * W) / n, y: 0, width: W / n + 0.5, height: H, class: "state-" + (st || "unknown") }));
  });
  $("strip").replaceChildren(g);
}

function chart(s, x) {
  const W = 560, H = 110, top = 6, bottom = 18;
  const from = seconds(s.from), step = s.step_s;
  const vals = x.values;
  const data = vals.filter((v) => v !== null);
  // The readings fill the height; a limit is drawn when the readings come near it.
  let lo = data.length ? Math.min(...data) : x.normal[0], hi = data.length ? Math.max(...data) : x.normal[1];
  const pad = Math.max((hi - lo) * 0.15, (x.normal[1] - x.normal[0]) * 0.05, 1e-6);
  lo -= pad; hi += pad;
  const X = (i) => (i / Math.max(1, vals.length - 1)) * W;
  const Y = (v) => top + (1 - (v - lo) / (hi - lo)) * (H - top - bottom);
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart" });
  const band = (a, b, cls) => {
    const y1 = Y(Math.min(b, hi)), y2 = Y(Math.max(a, lo));
    if (y2 > y1) g.append(svg("rect", { x: 0, y: y1, width: W, height: y2 - y1, class: cls }));
  };
  band(x.normal[0], x.normal[1], "normal");
  for (const e of s.episodes) {
    for (const [a, b] of PHASES) {
      const t0 = Math.max(seconds(e[a]), from), t1 = Math.min(seconds(e[b]), from + (vals.length - 1) * step);
      if (t1 > t0) g.append(svg("rect", { x: X((t0 - from) / step), y: 0, width: X((t1 - t0) / step), height: H - bottom, class: "span phase-" + a, "data-episode": e.id }));
    }
  }
  for (const [v, cls] of [[x.warning[0], "warning"], [x.warning[1], "warning"], [x.critical[0], "critical"], [x.critical[1], "critical"]]) {
    if (v > lo && v < hi) g.append(svg("line", { x1: 0, x2: W, y1: Y(v), y2: Y(v), class: cls }));
  }
  let d = "", pen = false, last = null;
  vals.forEach((v, i) => {
    if (v === null) { pen = false; return; }
    d += (pen ? "L" : "M") + X(i).toFixed(1) + " " + Y(v).toFixed(1);
    pen = true;
    last = i;
  });
  if (d) g.append(svg("path", { d, class: "reading" }));
  for (const [t, q] of x.marks) {
    const i = Math.round((seconds(t) - from) / step);
    if (vals[i] !== null && vals[i] !== undefined) g.append(svg("circle", { cx: X(i), cy: Y(vals[i]), r: 3, class: "mark", "data-quality": q }));
  }
  const axis = svg("text", { x: 2, y: H - 4, class: "axis" });
  axis.textContent = short(s.from).slice(11, 16);
  const axis2 = svg("text", { x: W - 2, y: H - 4, class: "axis end" });
  axis2.textContent = short(s.at).slice(11, 16);
  g.append(axis, axis2);
  const lastText = last === null ? "no reading" : `${vals[last]} ${x.unit}`;
  const fig = el(
    "figure",
    {
      class: "sensor",
      "data-sensor": x.id,
      "data-last-t": last === null ? null : new Date((from + last * step) * 1000).toISOString().replace(".000", ""),
      "data-last-v": last === null ? null : String(vals[last]),
      "data-points": String(data.length),
    },
    el("figcaption", {}, el("b", {}, x.label), ` ${x.id} · ${lastText} · normal ${x.normal[0]}–${x.normal[1]}, warning ${x.warning[0]}–${x.warning[1]}, critical ${x.critical[0]}–${x.critical[1]} ${x.unit}`),
    g,
  );
  return fig;
}

// ---- injection and clearing -----------------------------------------------------------

function fillPatterns() {
  const sel = $("inject-pattern");
  if (!plant || !selected) return;
  const machine = plant.factories.flatMap((f) => f.lines.flatMap((l) => l.machines)).find((m) => m.id === selected);
  const fits = plant.patterns.filter((p) => !machine || p.machine_types.includes(machine.type));
  sel.replaceChildren(...fits.map((p) => el("option", { value: p.name }, `${p.name} (${p.min_hours}–${p.max_hours} h)`)));
  fillSeverities();
}

function fillSeverities() {
  const p = plant && plant.patterns.find((x) => x.name === $("inject-pattern").value);
  $("inject-severity").replaceChildren(el("option", { value: "" }, "catalogue's"), ...(p ? p.severities : []).map((s) => el("option", { value: s }, s)));
}

async function change(method, path, body) {
  const r = await fetch(path, { method, headers: headers(body !== undefined), body: body === undefined ? undefined : JSON.stringify(body) });
  let answer = {};
  try { answer = await r.json(); } catch (_) { /* an empty body */ }
  return { status: r.status, ok: r.ok, answer };
}

async function inject(ev) {
  ev.preventDefault();
  const out = $("inject-result");
  const body = { machine_id: selected, pattern: $("inject-pattern").value };
  for (const [k, id] of [["duration", "inject-duration"], ["severity", "inject-severity"], ["at", "inject-at"]]) {
    const v = $(id).value.trim();
    if (v) body[k] = v;
  }
  const r = await change("POST", "/faults", body);
  out.dataset.status = r.status;
  if (r.ok) {
    out.dataset.episode = r.answer.id;
    out.textContent = `episode ${r.answer.id}: ${r.answer.pattern} on ${r.answer.machine_id}, onset ${short(r.answer.onset)}, fault ${short(r.answer.fault)}, end ${short(r.answer.end)}`;
  } else {
    delete out.dataset.episode;
    out.textContent = `refused (${r.status}): ${r.answer.error || "no reason given"}`;
  }
  pollPlant();
}

async function clearEpisode(id) {
  const r = await change("DELETE", "/faults/" + id);
  const out = $("inject-result");
  out.dataset.status = r.status;
  out.textContent = r.ok ? `episode ${id} cleared` : `clear refused (${r.status}): ${r.answer.error || ""}`;
  pollPlant();
}

// ---- start ---------------------------------------------------------------------------

$("token").addEventListener("input", (e) => { token = e.target.value.trim(); });
$("inject").addEventListener("submit", inject);
$("inject-pattern").addEventListener("change", fillSeverities);
$("machine-close").addEventListener("click", (e) => { e.preventDefault(); history.replaceState(null, "", location.pathname); choose(); });
window.addEventListener("hashchange", choose);
function every(poll, period) {
  const next = () => setTimeout(async () => { if (!document.hidden) await poll(); next(); }, period());
  next();
}

pollPlant().then(choose);
every(pollPlant, () => plantEveryMs);
every(pollMachine, () => 2 * plantEveryMs);
