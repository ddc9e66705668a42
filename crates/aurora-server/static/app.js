// Small enhancements; every page works without them.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(() => {
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
});

// Live investigation: keep the steps a person opened open when the section is re-rendered.
const openDetails = new Set();
document.addEventListener("toggle", (event) => {
  const details = event.target;
  if (!(details instanceof HTMLDetailsElement) || !details.id) return;
  if (details.open) openDetails.add(details.id); else openDetails.delete(details.id);
}, true);

// Charts of the series a tool returned (uPlot, loaded on the incident page only).
const palette = ["#3b6ef5", "#1d8a55", "#c62f3b", "#b7791f", "#7b4ddb", "#1b9aaa", "#d2527f", "#5b6778"];

function drawChart(el) {
  if (el.dataset.drawn || typeof uPlot === "undefined") return;
  let series;
  try { series = JSON.parse(el.dataset.series); } catch (_) { return; }
  if (!Array.isArray(series) || series.length === 0) return;
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const data = [times];
  for (const s of series) {
    const ys = new Array(times.length).fill(null);
    for (const [t, v] of s.points) ys[index.get(t)] = Number.isFinite(v) ? v : null;
    data.push(ys);
  }
  el.dataset.drawn = "1";
  const width = Math.max(320, Math.min(760, el.clientWidth || 760));
  new uPlot({
    width,
    height: 220,
    series: [{}].concat(series.map((s, i) => ({ label: s.name, stroke: palette[i % palette.length], width: 1.5, spanGaps: true }))),
    axes: [{}, { size: 60 }],
    legend: { live: false },
  }, data, el);
}

function refreshInvestigation(root) {
  for (const id of openDetails) {
    const details = document.getElementById(id);
    if (details) details.open = true;
  }
  (root || document).querySelectorAll(".series-chart[data-series]").forEach(drawChart);
  document.querySelectorAll(".series-chart[data-series]:not([data-drawn])").forEach(drawChart);
}

document.addEventListener("DOMContentLoaded", () => refreshInvestigation(document));
document.addEventListener("htmx:load", (event) => refreshInvestigation(event.target));
document.addEventListener("htmx:afterSettle", () => refreshInvestigation(document));
