// The model_fetch web console: plain DOM, no framework, no build step.
//
// Rules this file keeps: every URL is relative (the console works under a path prefix); every
// string from the server is inserted with textContent, never as HTML; the token lives in
// sessionStorage and travels only in the Authorization header; one event stream is read with
// fetch() (EventSource cannot send the header), with polling of the progress endpoint whenever
// the stream is down or silent about a running download.

const TOKEN_KEY = "model_fetch.token";
const POLL_MS = 1000; // the fallback's period: the page updates at least once a second
const STALE_MS = 2500; // a running download the stream has not mentioned for this long is polled
const RETRY_MS = 3000; // wait before reopening a failed event stream
const REFRESH_MS = 15000;
const BIND_MS = 10000; // how long a download finished without an id may still be matched to one // installed models and cache figures, in case another client changed them

const $ = (id) => document.getElementById(id);

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  needToken: false,
  streamAlive: false,
  streamController: null,
  downloads: new Map(), // key -> item (key: download_id, or a local key until the server answers)
  pendingCount: 0,
  dismissed: new Set(), // download ids whose items were removed: their late events are ignored
  refreshTimer: 0,
  wake: null, // ends the stream's wait before a retry (a new token was entered)
};

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const encodePath = (name) => name.split("/").map(encodeURIComponent).join("/");

function formatMb(value) {
  const mb = Number(value) || 0;
  if (mb >= 1024 * 1024) return `${(mb / 1024 / 1024).toFixed(1)} TB`;
  if (mb >= 1024) return `${(mb / 1024).toFixed(1)} GB`;
  return `${mb.toFixed(1)} MB`;
}

function formatBytes(bytes) {
  const value = Number(bytes) || 0;
  if (value < 1024) return `${value} B`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KB`;
  return formatMb(value / 1024 / 1024);
}

function formatSeconds(total) {
  const seconds = Math.max(0, Math.round(Number(total) || 0));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso ?? "") : date.toLocaleString();
}

// ---------------------------------------------------------------------------------------------
// The API

// The token field's value is applied before any request is sent, so a token pasted and used at
// once (a click on Download right after) travels with that very request.
function syncToken() {
  const field = document.getElementById("token");
  if (field && field.value.trim() !== state.token) setToken(field.value);
}

function authHeaders(extra = {}) {
  syncToken();
  const headers = { ...extra };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  return headers;
}

async function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: authHeaders({ Accept: "application/json" }), cache: "no-store" };
  const token = state.token;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, `Cannot reach the server (${error.message})`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401 && token === state.token) askForToken(Boolean(token));
    const detail =
      data && typeof data.detail === "string" ? data.detail : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, detail);
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// Alerts and the token prompt

function showError(error) {
  const message = error instanceof ApiError || error instanceof Error ? error.message : String(error);
  $("alert-text").textContent = message;
  $("alert").hidden = false;
}

function clearError() {
  $("alert").hidden = true;
  $("alert-text").textContent = "";
}

function askForToken(refused) {
  state.needToken = true;
  $("token-section").hidden = false;
  $("token-hint").textContent = refused
    ? "The server refused this token. Enter the API token the server was started with."
    : "This server needs its API token. It is kept in this tab only.";
}

function setToken(value) {
  const token = value.trim();
  if (token === state.token) return;
  state.token = token;
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  restartStream();
  loadAll().then((ok) => {
    if (ok && state.needToken) $("token-hint").textContent = "Token accepted.";
  });
}

// ---------------------------------------------------------------------------------------------
// Downloads: one item per download, updated from the event stream or by polling

function newItem(key, name, version) {
  const label = `${name} ${version}`;
  const bar = el("progress", { max: "100", "aria-label": `${label} download` });
  const nameNode = el("strong", { text: name });
  const versionNode = el("span", { class: "muted", text: version });
  const stateNode = el("span", { class: "badge", text: "starting" });
  const figures = el("p", { class: "figures" });
  const error = el("p", { class: "error" });
  error.hidden = true;
  const cancel = el("button", { type: "button", "aria-label": `Cancel ${label}`, text: "Cancel" });
  const dismiss = el("button", { type: "button", class: "quiet", "aria-label": `Dismiss ${label}`, text: "Dismiss" });
  dismiss.hidden = true;
  const node = el(
    "li",
    { class: "download" },
    el("div", { class: "download-head" }, nameNode, " ", versionNode, " ", stateNode),
    bar,
    figures,
    error,
    el("div", { class: "actions" }, cancel, dismiss),
  );
  const item = { key, id: null, name, version, done: false, retired: false, finishedAt: 0, lastUpdate: Date.now(), node, bar, stateNode, figures, error, cancel, dismiss };
  cancel.addEventListener("click", () => cancelDownload(item));
  dismiss.addEventListener("click", () => removeItem(item));
  state.downloads.set(key, item);
  $("downloads").prepend(node);
  showEmpty();
  return item;
}

function showEmpty() {
  $("downloads-empty").hidden = [...state.downloads.values()].some((item) => !item.retired);
}

function removeItem(item) {
  if (item.id) state.dismissed.add(item.id);
  item.node.remove();
  state.downloads.delete(item.key);
  showEmpty();
}

// A download the server refused (the alert shows why). Its job, if it had one, may still appear
// on the stream: the hidden item stays a while so those events bind to it and change nothing.
function retire(item) {
  item.node.remove();
  item.done = true;
  item.retired = true;
  item.finishedAt = Date.now();
  showEmpty();
  setTimeout(() => {
    if (state.downloads.get(item.key) === item) state.downloads.delete(item.key);
  }, BIND_MS);
}

function bindId(item, id) {
  state.downloads.delete(item.key);
  item.key = id;
  item.id = id;
  state.downloads.set(id, item);
}

// The item for a download id. A local item without an id (its POST has not answered, or answered
// "completed" at once, which names no id) is bound to it when the model and version match: the
// server runs one download per model and version at a time.
function itemFor(id, name, version) {
  const known = state.downloads.get(id);
  if (known) return known;
  const now = Date.now();
  for (const item of state.downloads.values()) {
    const recent = !item.done || now - item.finishedAt < BIND_MS;
    if (!item.id && recent && item.name === name && item.version === version) {
      bindId(item, id);
      return item;
    }
  }
  const item = newItem(id, name ?? id, version ?? "");
  item.id = id;
  return item;
}

function applyBody(item, body) {
  item.lastUpdate = Date.now();
  if (item.done) return;
  const status = body.status;
  if (status === "downloading") {
    const progress = body.progress || {};
    const stage = progress.current_stage || "downloading";
    const known = Number(progress.percentage) > 0 || Number(progress.total_mb) > 0;
    if (known || stage !== "downloading") {
      item.bar.value = Math.min(100, Math.max(0, Number(progress.percentage) || 0));
    }
    item.stateNode.textContent = body.message === "Download queued" ? "queued" : stage;
    const total = Number(progress.total_mb) > 0 ? ` of ${formatMb(progress.total_mb)}` : "";
    const eta = Number(progress.speed_mbps) > 0 ? formatSeconds(progress.eta_seconds) : "–";
    item.figures.textContent =
      `${(Number(progress.percentage) || 0).toFixed(1)}% · ${formatMb(progress.downloaded_mb)}${total} · ` +
      `${(Number(progress.speed_mbps) || 0).toFixed(1)} MB/s · ETA ${eta} · ${stage}`;
    return;
  }
  if (status === "completed") {
    item.bar.value = 100;
    item.stateNode.textContent = "completed";
    const installed = body.installation || {};
    item.figures.textContent =
      `${formatMb(body.file_size_mb)} in ${formatSeconds(body.download_duration_seconds)} · ` +
      `checksum ${body.checksum_verified ? "verified" : "not given"} · ` +
      `${installed.ready_for_inference ? "ready for inference" : "not ready for inference"}` +
      (body.signature && body.signature.verified ? ` · signed (${body.signature.method})` : "");
    finish(item);
    return;
  }
  if (status === "failed") {
    item.stateNode.textContent = body.cancelled ? "cancelled" : "failed";
    item.error.textContent = body.cancelled ? "Download cancelled" : String(body.error || body.message || "failed");
    item.error.hidden = false;
    finish(item);
  }
}

function finish(item) {
  item.done = true;
  item.finishedAt = Date.now();
  item.cancel.hidden = true;
  item.dismiss.hidden = false;
  item.node.classList.add("finished");
  scheduleRefresh();
}

async function cancelDownload(item) {
  if (!item.id) return;
  item.cancel.disabled = true;
  try {
    await api(`model-download/${encodeURIComponent(item.id)}`, { method: "DELETE" });
    applyBody(item, { status: "failed", cancelled: true });
  } catch (error) {
    item.cancel.disabled = false;
    showError(error);
  }
}

async function submitDownload(event) {
  event.preventDefault();
  clearError();
  const value = (id) => $(id).value.trim();
  const body = { model_name: value("f-name") };
  if (value("f-version")) body.version = value("f-version");
  if (value("f-source")) body.source = value("f-source");
  if (value("f-url")) body.download_url = value("f-url");
  if (value("f-checksum")) body.checksum = value("f-checksum");
  if ($("f-force").checked) body.force_download = true;
  state.pendingCount += 1;
  const item = newItem(`pending-${state.pendingCount}`, body.model_name, body.version || "latest");
  item.cancel.disabled = true;
  $("f-submit").disabled = true;
  try {
    const answer = await api("model-download", { method: "POST", body });
    if (answer.status === "started") {
      const bound = state.downloads.get(answer.download_id);
      if (bound && bound !== item) removeItem(item);
      else if (!item.id) bindId(item, answer.download_id);
      // Cancel only once the server has answered: the POST then no longer waits on the job.
      (bound || item).cancel.disabled = false;
    } else {
      applyBody(item, answer);
    }
  } catch (error) {
    retire(item);
    showError(error);
  } finally {
    $("f-submit").disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// The event stream (fetch, so the token travels in a header), with polling as the fallback

function restartStream() {
  if (state.streamController) state.streamController.abort();
  if (state.wake) state.wake();
}

function waitBeforeRetry(ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    state.wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

function setLive(alive) {
  state.streamAlive = alive;
  $("live").textContent = alive ? "Live" : "Polling every second";
}

async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const blocks = buffer.split(/\r?\n\r?\n/);
    buffer = blocks.pop();
    for (const block of blocks) {
      let name = "message";
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = text;
        else if (field === "data") data.push(text);
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}

function onStreamEvent(_name, body) {
  if (!body || typeof body.download_id !== "string" || state.dismissed.has(body.download_id)) return;
  applyBody(itemFor(body.download_id, body.model_name, body.version), body);
}

async function runStream() {
  for (;;) {
    const controller = new AbortController();
    state.streamController = controller;
    try {
      const response = await fetch("model-download/events", {
        headers: authHeaders({ Accept: "text/event-stream" }),
        cache: "no-store",
        signal: controller.signal,
      });
      if (response.status === 401) {
        askForToken(Boolean(state.token));
      } else if (response.ok && response.body) {
        setLive(true);
        await readEvents(response.body, onStreamEvent);
      }
    } catch {
      // A dropped stream, a proxy that does not stream, an aborted fetch: poll until it is back.
    }
    setLive(false);
    if (!controller.signal.aborted) await waitBeforeRetry(RETRY_MS);
  }
}

async function pollOnce() {
  const now = Date.now();
  const tasks = [];
  for (const item of state.downloads.values()) {
    if (!item.id || item.done) continue;
    if (state.streamAlive && now - item.lastUpdate < STALE_MS) continue;
    tasks.push(
      api(`model-download/${encodeURIComponent(item.id)}/progress`)
        .then((body) => applyBody(item, body))
        .catch((error) => {
          if (error.status === 404) applyBody(item, { status: "failed", error: "The server no longer knows this download" });
        }),
    );
  }
  if (!state.streamAlive && !state.needToken) tasks.push(refreshModels().catch(() => {}));
  await Promise.all(tasks);
}

async function pollLoop() {
  for (;;) {
    await sleep(POLL_MS);
    await pollOnce();
  }
}

// ---------------------------------------------------------------------------------------------
// Installed models, details, removal, cache figures

function cell(text, label) {
  return el("td", { "data-label": label, text });
}

function renderModels(models) {
  const body = $("models").tBodies[0];
  const rows = [];
  for (const model of models) {
    if (model.status === "loading" && model.download_id) {
      itemFor(model.download_id, model.name, model.version);
      continue;
    }
    if (model.status !== "available") continue;
    const nameButton = el("button", { type: "button", class: "link", text: model.name });
    nameButton.addEventListener("click", () => showDetails(model.name, model.version));
    const remove = el("button", {
      type: "button",
      class: "danger-quiet",
      "aria-label": `Remove ${model.name} ${model.version}`,
      text: "Remove",
    });
    remove.addEventListener("click", () => askRemove(model.name, model.version));
    const installed = el("time", { datetime: model.installed_at ?? "", text: formatTime(model.installed_at) });
    rows.push(
      el(
        "tr",
        {},
        el("td", { "data-label": "Name" }, nameButton),
        cell(model.version, "Version"),
        cell(model.status, "Status"),
        cell(formatMb(model.size_mb), "Size"),
        cell(model.source ?? "", "Source"),
        el("td", { "data-label": "Installed at" }, installed),
        cell((model.ready_for_inference ? "yes" : "no") + (model.signature ? " · signed" : ""), "Ready"),
        el("td", {}, remove),
      ),
    );
  }
  body.replaceChildren(...rows);
  $("models-empty").hidden = rows.length > 0;
}

async function refreshModels() {
  const data = await api("models");
  renderModels(data.models || []);
}

async function refreshCache() {
  const data = await api("cache-info");
  const info = data.cache_info || {};
  const models = data.model_cache || {};
  const downloads = data.download_cache || {};
  $("cache-size").textContent = formatMb(models.current_size_mb);
  $("cache-count").textContent = String(models.entry_count ?? 0);
  $("cache-free").textContent = formatMb(info.available_cache_size_mb);
  $("cache-partials").textContent = String(downloads.partial_downloads ?? 0);
  $("cache-dir").textContent = info.cache_directory ? `Store: ${info.cache_directory}` : "";
}

async function refreshSources() {
  const data = await api("sources");
  const select = $("f-source");
  const chosen = select.value || data.default;
  const options = (data.sources || []).map((name) => el("option", { value: name, text: name }));
  select.replaceChildren(...options);
  select.value = (data.sources || []).includes(chosen) ? chosen : data.default;
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => {
    Promise.all([refreshModels(), refreshCache()]).catch((error) => {
      if (error.status !== 401) showError(error);
    });
  }, 150);
}

async function loadAll() {
  try {
    await Promise.all([refreshSources(), refreshModels(), refreshCache()]);
    return true;
  } catch (error) {
    if (error.status !== 401) showError(error);
    return false;
  }
}

let removeTarget = null;

function askRemove(name, version) {
  removeTarget = { name, version };
  $("remove-text").textContent = `Remove version ${version} of ${name}? Its files are deleted from the store.`;
  $("remove-dialog").showModal();
}

async function confirmRemove() {
  const target = removeTarget;
  $("remove-dialog").close();
  if (!target) return;
  clearError();
  try {
    const version = encodeURIComponent(target.version);
    await api(`model-remove/${encodePath(target.name)}?version=${version}`, {
      method: "DELETE",
      body: { confirm: true },
    });
  } catch (error) {
    showError(error);
  }
  scheduleRefresh();
}

async function showDetails(name, version) {
  clearError();
  let info;
  try {
    info = await api(`model-info/${encodePath(name)}?version=${encodeURIComponent(version)}`);
  } catch (error) {
    showError(error);
    return;
  }
  $("details-title").textContent = `${info.name} ${info.version}`;
  const readiness = info.readiness || {};
  const facts = [
    ["Source", info.source],
    ["Download URL", info.download_url],
    ["Installed at", formatTime(info.installed_at)],
    ["Size", formatMb(info.size_mb)],
    ["Checksum verified", info.checksum_verified ? "yes" : "no"],
    ["Ready for inference", info.ready_for_inference ? "yes" : "no"],
    ["Readiness check", readiness.checked ?? "none"],
    ["Signature", info.signature ? `${info.signature.method}, ${info.signature.identity}` : "not verified"],
    ["Reason", readiness.reason ?? "–"],
    ["Path", info.file_path],
    ["Versions", (info.versions || []).join(", ")],
  ];
  $("details-facts").replaceChildren(
    ...facts.map(([term, value]) => el("div", {}, el("dt", { text: term }), el("dd", { text: String(value ?? "") }))),
  );
  $("details-files").tBodies[0].replaceChildren(
    ...(info.files || []).map((file) =>
      el("tr", {}, cell(file.path, "Path"), cell(formatBytes(file.size), "Size"), el("td", { class: "digest", text: file.sha256 })),
    ),
  );
  $("details-metadata").textContent = JSON.stringify(info.metadata ?? {}, null, 2);
  $("details-dialog").showModal();
}

// ---------------------------------------------------------------------------------------------
// Start

function start() {
  $("download-form").addEventListener("submit", submitDownload);
  $("alert-close").addEventListener("click", clearError);
  $("remove-confirm").addEventListener("click", confirmRemove);
  $("remove-keep").addEventListener("click", () => $("remove-dialog").close());
  $("details-close").addEventListener("click", () => $("details-dialog").close());
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setToken($("token").value);
  });
  $("token").addEventListener("change", () => setToken($("token").value));
  $("token").addEventListener("blur", () => setToken($("token").value));
  $("token").value = state.token;
  loadAll();
  runStream();
  pollLoop();
  setInterval(() => {
    if (!state.needToken || state.token) scheduleRefresh();
  }, REFRESH_MS);
}

start();
