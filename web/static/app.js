// The status page: reads the JSON API, draws with charts.js. No framework, no build step.
"use strict";

const KEY_PARAMS = { air: ["pm25", "pm10", "o3", "no2", "so2", "co"],
                     water: ["ph", "do", "codmn", "nh3n", "tp", "temp"],
                     noise: ["leq", "lmax", "ld", "ln"] };
const WATER_COLOURS = ["#2563eb", "#0ea5e9", "#22c55e", "#eab308", "#f97316", "#dc2626"];
const ROMAN = ["Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ", "Ⅴ", "劣Ⅴ"];
const REFRESH_MS = 30000;
const state = { bands: [], city: null, token: null, timer: null };

function readToken() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem("envmon-token", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search + "#overview");
  }
  return sessionStorage.getItem("envmon-token");
}

async function api(path) {
  const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
  const res = await fetch(`/api/v1${path}`, { headers });
  if (res.status === 401) throw new Error("this server needs a token: open the page as " +
                                          `${location.origin}/#token=YOUR_TOKEN`);
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

async function all(path) {
  const sep = path.includes("?") ? "&" : "?";
  let offset = 0, items = [];
  for (;;) {
    const page = await api(`${path}${sep}limit=1000&offset=${offset}`);
    items = items.concat(page.items);
    if (page.next_offset === null) return items;
    offset = page.next_offset;
  }
}

function colourOf(aqi) {
  const band = state.bands.find(b => aqi >= b.lower && (b.upper === null || aqi <= b.upper));
  return band ? band.hex : "#cccccc";
}

function textColour(hex) {
  const n = parseInt(hex.slice(1), 16);
  const lum = 0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255);
  return lum > 150 ? "#1d2330" : "#ffffff";
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "style") Object.assign(node.style, v); else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

function fmt(v, digits = 1) {
  if (v === null || v === undefined) return "–";
  return typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(digits)) : String(v);
}

function beijing(ts, withDate) {
  return new Date(ts).toLocaleString("en-GB", { timeZone: "Asia/Shanghai", hour: "2-digit",
    minute: "2-digit", ...(withDate ? { month: "2-digit", day: "2-digit" } : {}) });
}

function beijingYear() {
  return Number(new Date().toLocaleString("en", { timeZone: "Asia/Shanghai", year: "numeric" }));
}

function aqiBadge(aqi, category) {
  if (aqi === null || aqi === undefined) return el("span", { class: "aqi muted" }, "NA");
  const bg = colourOf(aqi);
  return el("span", { class: "aqi", "data-aqi": aqi, title: category || "",
                      style: { background: bg, color: textColour(bg) } }, aqi);
}

function legend(target) {
  target.replaceChildren(...state.bands.map(b => el("span", {},
    el("i", { style: { background: b.hex } }),
    `${b.lower}–${b.upper === null ? "" : b.upper} ${b.name} ${b.name_en}`)));
}

async function overview() {
  const [stations, report, alerts] = await Promise.all([
    all("/stations"),
    state.city ? api(`/reports/air?ytd=today&city=${encodeURIComponent(state.city)}`) : null,
    api("/alerts/open?limit=5"),
  ]);
  legend(document.getElementById("legend"));
  const rows = stations.map(s => {
    const keys = (KEY_PARAMS[s.kind] || []).filter(p => s.latest[p]);
    const readings = el("span", { class: "readings" }, ...keys.map(p => el("span",
      { "data-param": p, title: `${s.latest[p].interval} ${beijing(s.latest[p].ts, true)}` },
      `${p} ${fmt(s.latest[p].value, 2)} ${s.latest[p].unit}  `)));
    return el("tr", { "data-station": s.station_id, "data-state": s.state },
      el("td", {}, el("b", {}, s.station_id), el("br"), el("span", { class: "muted" }, s.name || "")),
      el("td", {}, s.kind), el("td", {}, s.county || ""),
      el("td", { class: `state state-${s.state}`,
                 title: s.cadence_seconds ? `cadence ${s.cadence_seconds} s` : "" }, s.state),
      el("td", {}, s.kind === "air" ? aqiBadge(s.aqi && s.aqi.aqi, s.aqi && s.aqi.category) : ""),
      el("td", {}, readings),
      el("td", { class: "muted" }, s.last_seen ? beijing(s.last_seen, true) : "–"));
  });
  document.querySelector("#stations tbody").replaceChildren(...rows);
  const gauge = document.getElementById("gauge");
  if (report === null) {
    gauge.replaceChildren();
    document.getElementById("gauge-text").textContent = "No station registered yet.";
    alertList(document.getElementById("alerts-summary"), alerts);
    return;
  }
  gauge.replaceChildren(charts.gaugeChart(report.good_ratio, report.target_good_ratio));
  const left = report.affordable_non_good_days;
  document.getElementById("gauge-text").textContent =
    `${report.good_days} good of ${report.valid_days} valid days (${report.period}); ` +
    (report.target_good_ratio === null ? "no plan target for this year." :
      `plan target ${report.target_good_ratio}%, margin ${fmt(report.margin)} points; ` +
      (left === null ? "" : `${left} more non-good days affordable this year.`));
  alertList(document.getElementById("alerts-summary"), alerts);
}

function alertList(target, page) {
  if (!page.available) {
    target.replaceChildren(el("p", { class: "muted" }, "No alerts module in this database yet."));
    return;
  }
  if (page.items.length === 0) {
    target.replaceChildren(el("p", { class: "ok" }, "No open alerts."));
    return;
  }
  const cols = ["state", "severity", "rule", "subject_id", "summary", "started_at"];
  target.replaceChildren(el("table", {}, el("thead", {}, el("tr", {}, ...cols.map(c => el("th", {}, c)))),
    el("tbody", {}, ...page.items.map(a => el("tr", { "data-alert": a.episode_id ?? "" },
      ...cols.map(c => el("td", {}, c === "started_at" && a[c] ? beijing(a[c], true) : fmt(a[c]))))))));
}

async function calendar() {
  const year = beijingYear();
  if (!state.city) {
    document.getElementById("calendar").replaceChildren(
      el("p", { class: "muted" }, "No station registered yet."));
    return;
  }
  document.getElementById("calendar-year").textContent = `${year}, ${state.city}`;
  const rows = await all(`/air/regions/daily?city=${encodeURIComponent(state.city)}` +
                         `&start=${year}-01-01&end=${year + 1}-01-01`);
  const days = new Map(rows.map(r => [r.day, r]));
  document.getElementById("calendar").replaceChildren(charts.calendarChart(year, days, colourOf));
  legend(document.getElementById("calendar-legend"));
}

// The series each kind of station is followed by in the trends view.
const TREND = {
  water: { parameter: "do", label: "dissolved oxygen, mg/L", grid: [0, 2, 5, 7.5, 10],
           colour: v => v >= 5 ? "#0ea5e9" : "#dc2626" },  // GB 3838 class III: DO >= 5
  noise: { parameter: "leq", label: "hourly Leq, dB(A)", grid: [0, 40, 55, 70],
           colour: () => "#64748b" },
};

async function trends() {
  const stations = await all("/stations");
  const end = Date.now(), start = end - 24 * 3600 * 1000;
  const series = await Promise.all(stations.map(s => {
    const id = encodeURIComponent(s.station_id);
    if (s.kind === "air") return api(`/air/stations/${id}/hourly?limit=48`);
    const trend = TREND[s.kind];
    return trend ? api(`/stations/${id}/readings?parameter=${trend.parameter}&limit=48`)
                 : Promise.resolve({ items: [] });
  }));
  document.getElementById("trends").replaceChildren(...stations.map((s, i) => {
    const air = s.kind === "air", trend = TREND[s.kind];
    const points = series[i].items.map(r => air
      ? { ts: Date.parse(r.ts), y: r.aqi, label: `${beijing(r.ts, true)} AQI ${r.aqi} ${r.category || ""}` }
      : { ts: Date.parse(r.ts), y: r.value, label: `${beijing(r.ts, true)} ${fmt(r.value)}` })
      .filter(p => p.y !== null);
    const options = air ? { start, end, colourOf, grid: [0, 50, 100, 150, 200] }
                        : { start, end, colourOf: trend.colour, grid: trend.grid };
    return el("figure", { "data-station": s.station_id, "data-kind": s.kind },
      el("figcaption", {}, `${s.station_id} — ${air ? "hourly AQI" : trend.label}`),
      charts.lineChart(points, options));
  }));
}

async function water() {
  const year = beijingYear();
  const rows = await all(`/water/sections?period=month&start=${year}-01-01&end=${year + 1}-01-01`);
  const sections = new Map();
  for (const r of rows) {
    if (!sections.has(r.station_id)) sections.set(r.station_id, { info: r, months: new Map() });
    sections.get(r.station_id).months.set(Number(r.period_start.slice(5, 7)), r);
  }
  const months = Array.from({ length: 12 }, (_, i) => i + 1);
  const head = el("tr", {}, el("th", {}, "section"), el("th", {}, "target"),
    ...months.map(m => el("th", {}, `${year}-${String(m).padStart(2, "0")}`)));
  const body = [...sections.values()].map(({ info, months: byMonth }) => el("tr",
    { "data-section": info.station_id },
    el("td", {}, el("b", {}, info.station_id), el("br"), el("span", { class: "muted" }, info.name || "")),
    el("td", {}, info.target_class ? ROMAN[info.target_class - 1] : "–"),
    ...months.map(m => {
      const r = byMonth.get(m);
      if (!r || r.water_class === null) return el("td", { class: "muted" }, "·");
      const bg = WATER_COLOURS[r.water_class - 1];
      return el("td", { "data-class": r.water_class, title: JSON.stringify(r.exceeding),
        style: { background: bg, color: "#fff", textAlign: "center",
                 outline: r.compliant === false ? "3px solid #b91c1c" : "" } }, r.class_label || r.water_class);
    })));
  document.getElementById("water").replaceChildren(
    rows.length ? el("table", {}, el("thead", {}, head), el("tbody", {}, ...body))
                : el("p", { class: "muted" }, "No monthly water classes yet."));
}

async function noise() {
  const end = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
  const start = new Date(Date.now() - 8 * 86400000).toISOString().slice(0, 10);
  const rows = await all(`/noise/points?start=${start}&end=${end}`);
  const latest = new Map();
  // per point the latest day with both levels, else the latest with either (rows by day)
  for (const r of rows) {
    const best = latest.get(r.station_id);
    const full = r.ld !== null && r.ln !== null;
    if ((full || r.ld !== null || r.ln !== null) &&
        (!best || full || best.ld === null || best.ln === null)) latest.set(r.station_id, r);
  }
  const cell = (v, limit, ok) => el("td", {}, charts.levelBar(v, limit, 90), " ",
    el("span", { class: ok === null ? "muted" : ok ? "ok" : "bad" },
       `${fmt(v)} / ${fmt(limit)} dB(A) ${ok === null ? "" : ok ? "✓" : "over"}`));
  const body = [...latest.values()].map(r => el("tr", { "data-point": r.station_id },
    el("td", {}, el("b", {}, r.station_id), el("br"), el("span", { class: "muted" }, r.name || "")),
    el("td", {}, r.zone), el("td", {}, r.day),
    cell(r.ld, r.limits ? r.limits.day : null, r.day_ok),
    cell(r.ln, r.limits ? r.limits.night : null, r.night_ok)));
  document.getElementById("noise").replaceChildren(latest.size ? el("table", {},
    el("thead", {}, el("tr", {}, ...["point", "zone", "day", "day Ld", "night Ln"].map(c => el("th", {}, c)))),
    el("tbody", {}, ...body)) : el("p", { class: "muted" }, "No daily noise levels yet."));
}

async function alertsView() {
  alertList(document.getElementById("alerts"), await api("/alerts/open"));
}

const VIEWS = { overview, calendar, trends, water, noise, alerts: alertsView };

function currentView() {
  const name = location.hash.replace(/^#/, "").split(/[?&]/)[0];
  return VIEWS[name] ? name : "overview";
}

async function show() {
  const name = currentView();
  for (const section of document.querySelectorAll(".view")) {
    section.hidden = section.id !== `view-${name}`;
  }
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.dataset.view === name);
  }
  const error = document.getElementById("error");
  try {
    await VIEWS[name]();
    error.hidden = true;
    document.body.dataset.view = name;
    document.body.dataset.loaded = String(Date.now());
    document.getElementById("updated").textContent = `updated ${beijing(Date.now())} Beijing`;
  } catch (exc) {
    error.textContent = String(exc.message || exc);
    error.hidden = false;
  }
  clearTimeout(state.timer);
  state.timer = setTimeout(show, REFRESH_MS);
}

async function start() {
  state.token = readToken();
  try {
    state.bands = await api("/aqi/bands");
    const regions = await api("/regions");
    const wanted = new URLSearchParams(location.search).get("city");
    state.city = wanted || (regions.find(r => r.county === "") || {}).city || null;
    document.getElementById("city").textContent = state.city || "";
  } catch (exc) {
    const error = document.getElementById("error");
    error.textContent = String(exc.message || exc);
    error.hidden = false;
    return;
  }
  window.addEventListener("hashchange", show);
  await show();
}

document.addEventListener("DOMContentLoaded", start);
