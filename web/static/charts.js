// Small SVG charts for the status page: no library, no build step.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

// Semicircle gauge of a percentage with a target mark.
function gaugeChart(ratio, target) {
  const w = 280, h = 150, cx = w / 2, cy = 125, r = 100;
  const svg = svgEl("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`,
                             "data-ratio": ratio === null ? "" : ratio,
                             "data-target": target === null ? "" : target });
  const point = (pct, radius) => {
    const a = Math.PI * (1 - pct / 100);
    return [cx + radius * Math.cos(a), cy - radius * Math.sin(a)];
  };
  const arc = (from, to, colour) => {
    const [x1, y1] = point(from, r), [x2, y2] = point(to, r);
    return svgEl("path", { d: `M ${x1} ${y1} A ${r} ${r} 0 0 1 ${x2} ${y2}`, fill: "none",
                           stroke: colour, "stroke-width": 18 });
  };
  svg.appendChild(arc(0, 100, "#e5e7eb"));
  if (ratio !== null) {
    const met = target === null || ratio >= target;
    svg.appendChild(arc(0, Math.max(0.5, ratio), met ? "#15803d" : "#b91c1c"));
  }
  if (target !== null) {
    const [x1, y1] = point(target, r - 14), [x2, y2] = point(target, r + 14);
    svg.appendChild(svgEl("line", { x1, y1, x2, y2, stroke: "#1d2330", "stroke-width": 3,
                                    class: "target-mark" }));
    svg.appendChild(svgEl("text", { x: cx, y: cy + 2, "text-anchor": "middle" },
                          `plan target ${target}%`));
  }
  svg.appendChild(svgEl("text", { x: cx, y: cy - 20, "text-anchor": "middle",
                                  class: "gauge-value" },
                        ratio === null ? "NA" : `${ratio.toFixed(1)}%`));
  return svg;
}

// A year of daily AQI: weeks as columns, weekdays as rows (GitHub-style calendar).
function calendarChart(year, days, colourOf) {
  const cell = 19, gap = 3, left = 34, top = 18;
  const first = new Date(Date.UTC(year, 0, 1));
  const offset = (first.getUTCDay() + 6) % 7; // Monday first
  const total = ((Date.UTC(year + 1, 0, 1) - first) / 86400000) | 0;
  const weeks = Math.ceil((total + offset) / 7);
  const svg = svgEl("svg", { width: left + weeks * (cell + gap), height: top + 7 * (cell + gap),
                             class: "calendar" });
  ["Mon", "", "Wed", "", "Fri", "", "Sun"].forEach((d, i) => {
    if (d) svg.appendChild(svgEl("text", { x: 0, y: top + i * (cell + gap) + 11 }, d));
  });
  for (let m = 0; m < 12; m++) {
    const idx = ((Date.UTC(year, m, 1) - first) / 86400000 + offset) | 0;
    svg.appendChild(svgEl("text", { x: left + Math.floor(idx / 7) * (cell + gap), y: 12 },
                          new Date(Date.UTC(year, m, 1)).toLocaleString("en", {
                            month: "short", timeZone: "UTC" })));
  }
  for (let i = 0; i < total; i++) {
    const day = new Date(first.getTime() + i * 86400000).toISOString().slice(0, 10);
    const k = i + offset;
    const row = days.get(day);
    const aqi = row ? row.aqi : null;
    const rect = svgEl("rect", {
      x: left + Math.floor(k / 7) * (cell + gap), y: top + (k % 7) * (cell + gap),
      width: cell, height: cell, rx: 2, fill: aqi === null ? "#eef0f3" : colourOf(aqi),
      "data-day": day, "data-aqi": aqi === null ? "" : aqi });
    rect.appendChild(svgEl("title", {}, `${day}: AQI ${aqi === null ? "NA" : aqi}` +
                           (row && row.category ? ` ${row.category}` : "")));
    svg.appendChild(rect);
  }
  return svg;
}

// Hourly values as a line over coloured points; x = time, y = value. options: start, end (ms),
// colourOf(value), grid (y values to rule; the axis reaches at least the last one).
function lineChart(points, options) {
  const w = 300, h = 120, l = 34, r = 18, t = 8, b = 18;
  const svg = svgEl("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}` });
  const { start, end, colourOf, grid } = options;
  const ymax = Math.max(grid[grid.length - 1], ...points.map(p => p.y)) * 1.1;
  const x = ts => l + (w - l - r) * (ts - start) / (end - start);
  const y = v => t + (h - t - b) * (1 - v / ymax);
  for (const v of grid.filter(v => v <= ymax)) {
    svg.appendChild(svgEl("line", { x1: l, x2: w - r, y1: y(v), y2: y(v), stroke: "#eef0f3" }));
    svg.appendChild(svgEl("text", { x: 2, y: y(v) + 4 }, v));
  }
  for (let k = 0; k <= 4; k++) {
    const ts = start + (end - start) * k / 4;
    const label = new Date(ts).toLocaleTimeString("en-GB", {
      hour: "2-digit", minute: "2-digit", timeZone: "Asia/Shanghai" });
    svg.appendChild(svgEl("text", { x: x(ts), y: h - 4, "text-anchor": "middle" }, label));
  }
  if (points.length > 1) {
    svg.appendChild(svgEl("polyline", {
      points: points.map(p => `${x(p.ts)},${y(p.y)}`).join(" "), fill: "none",
      stroke: "#94a3b8", "stroke-width": 1.5 }));
  }
  for (const p of points) {
    const dot = svgEl("circle", { cx: x(p.ts), cy: y(p.y), r: 3.5, fill: colourOf(p.y),
                                  stroke: "#0004", "data-value": p.y });
    dot.appendChild(svgEl("title", {}, p.label));
    svg.appendChild(dot);
  }
  return svg;
}

// Horizontal bars of a level against its limit (noise Ld/Ln).
function levelBar(value, limit, max) {
  const w = 160, h = 16;
  const svg = svgEl("svg", { width: w, height: h });
  svg.appendChild(svgEl("rect", { x: 0, y: 3, width: w, height: 10, fill: "#eef0f3" }));
  if (value !== null) {
    svg.appendChild(svgEl("rect", { x: 0, y: 3, width: w * Math.min(value, max) / max,
                                    height: 10, fill: value <= limit ? "#15803d" : "#b91c1c" }));
  }
  const lx = w * limit / max;
  svg.appendChild(svgEl("line", { x1: lx, x2: lx, y1: 0, y2: h, stroke: "#1d2330",
                                  "stroke-width": 2 }));
  return svg;
}

window.charts = { svgEl, gaugeChart, calendarChart, lineChart, levelBar };
