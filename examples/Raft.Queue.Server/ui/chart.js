// Line charts on a plain canvas (no library): series of [time, value] points on one shared time axis.
"use strict";

// Draws `panels` (each { series: [{ name, color, points }] }) stacked in `canvas`, each scaled to its own values.
function drawChart(canvas, panels, spanMs) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, left = 56, right = 90;
  ctx.clearRect(0, 0, w, h);
  ctx.font = "11px system-ui, sans-serif";
  const now = Date.now();
  const x = (t) => left + (w - left - right) * (1 - (now - t) / spanMs);
  const ph = h / panels.length;
  panels.forEach((panel, i) => {
    const top = i * ph + 6, bottom = (i + 1) * ph - 6;
    const values = panel.series.flatMap((s) => s.points.map((p) => p[1]));
    if (values.length === 0) return;
    let lo = Math.min(...values), hi = Math.max(...values);
    if (hi === lo) { hi += 1; lo = Math.max(0, lo - 1); }
    const y = (v) => bottom - (bottom - top) * (v - lo) / (hi - lo);
    ctx.fillStyle = "#888";
    ctx.fillText(String(hi), 2, top + 9);
    ctx.fillText(String(lo), 2, bottom);
    panel.series.forEach((s, k) => {
      ctx.strokeStyle = s.color;
      ctx.beginPath();
      s.points.forEach(([t, v], j) => (j === 0 ? ctx.moveTo(x(t), y(v)) : ctx.lineTo(x(t), y(v))));
      ctx.stroke();
      ctx.fillStyle = s.color;
      const last = s.points[s.points.length - 1];
      ctx.fillText(`${s.name} ${last ? last[1] : ""}`, w - right + 4, top + 11 + 12 * k);
    });
  });
}
