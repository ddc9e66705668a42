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

// Knowledge: drop or choose files to upload them, each with its own progress bar; the document
// list then refreshes itself until indexing ends.
(function () {
  const zone = document.getElementById("dropzone");
  if (!zone) return;
  const input = document.getElementById("upload-input");
  const list = document.getElementById("uploads");
  const kind = document.getElementById("upload-kind");
  const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"];
  const maxBytes = Number(zone.dataset.maxBytes);

  function refreshDocuments() {
    if (typeof htmx !== "undefined") {
      htmx.ajax("GET", "/knowledge/documents", { target: "#documents", swap: "outerHTML" });
    }
  }

  function upload(file) {
    const item = document.createElement("li");
    item.className = "upload";
    const name = document.createElement("span");
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    const state = document.createElement("span");
    state.className = "upload-state small";
    item.append(name, bar, state);
    list.prepend(item);
    if (file.size > maxBytes) {
      state.textContent = "too large: the limit is 100 MB";
      item.classList.add("upload-failed");
      return;
    }
    const params = new URLSearchParams({ filename: file.name, kind: kind.value });
    const xhr = new XMLHttpRequest();
    xhr.open("POST", zone.dataset.upload + "?" + params.toString());
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status === 202 || xhr.status === 200) {
        bar.value = 100;
        state.textContent = body.duplicate ? "already in the knowledge base" : "uploaded, indexing…";
        item.classList.add("upload-done");
      } else {
        state.textContent = (body.error && body.error.message) || ("failed: HTTP " + xhr.status);
        item.classList.add("upload-failed");
      }
      refreshDocuments();
    };
    xhr.onerror = () => {
      state.textContent = "failed: the connection was lost";
      item.classList.add("upload-failed");
    };
    xhr.send(file);
  }

  function uploadAll(files) { for (const file of files) upload(file); }
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("dragging"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    uploadAll(e.dataTransfer.files);
  });
  input.addEventListener("change", () => { uploadAll(input.files); input.value = ""; });
})();
