// Request logs: server-side filters, cursor paging, live tail, row detail.
import { useEffect, useRef, useState } from "../vendor/hooks.js";
import { get, query, stream } from "../lib/api.js";
import { ErrorNote, Modal, fmtCost, fmtInt, fmtMs, fmtTime, html } from "../lib/ui.js";

const FILTERS = [
  ["from", "From", "datetime-local"],
  ["to", "To", "datetime-local"],
  ["httpStatus", "HTTP status", "number"],
  ["model", "Model", "text"],
  ["channel", "Channel", "text"],
  ["endpoint", "Endpoint", "text"],
  ["clientId", "Client", "text"],
  ["sessionId", "Session", "text"],
];
const PAGE = 50;
const EMPTY = { ...Object.fromEntries(FILTERS.map(([k]) => [k, ""])), apiKeyId: "" };

// A key's name as the page knows it; with its id (#n) unless short.
const keyName = (id, keys, short = false) => {
  if (id == null || id < 0) return "–";
  if (id === 0) return "master key";
  const key = keys && keys.find((k) => k.id === id);
  return key ? (short ? key.name : `${key.name} (#${id})`) : `#${id}`;
};

function params(filters, cursor) {
  const p = { ...filters, limit: PAGE, cursor };
  for (const k of ["from", "to"]) if (p[k]) p[k] = new Date(p[k]).toISOString();
  return p;
}

// failoverInfo is the scheduler's text for this attempt: "<status>[:<sub>] > <action> > <details>".
function parseChain(info) {
  if (!info) return null;
  return String(info).split(/\s*;\s*/).filter(Boolean).map((step) => step.split(/\s*>\s*/));
}

function Headers({ title, map }) {
  const entries = Object.entries(map || {});
  return html`<h4>${title}</h4>${entries.length ? html`<dl class="kv small">${entries.map(([k, v]) => html`<dt>${k}</dt><dd class="mono">${String(v)}</dd>`)}</dl>` : html`<p class="muted">none</p>`}`;
}

// Every attempt of the row's client request (same requestId), oldest first.
function Chain({ row, onOpen }) {
  const attempts = row.chain || [row];
  if (attempts.length < 2) return html`<p class="muted">No failover: the channel tried first answered.</p>`;
  return html`<table class="chain-table">
    <caption class="muted">${attempts.length} attempts of request <code>${row.requestId}</code></caption>
    <thead><tr><th>#</th><th>Started</th><th>Channel</th><th>Status</th><th>Duration</th><th>Failover</th></tr></thead>
    <tbody>${attempts.map((a, i) => html`<tr class=${a.id === row.id ? "current" : ""} aria-current=${a.id === row.id ? "true" : null}>
      <td>${i + 1}</td>
      <td>${fmtTime(a.initialTime)}</td>
      <td>${a.channelName || "–"}</td>
      <td><span class=${"badge " + a.status}>${a.status}</span> ${a.httpStatus || ""}</td>
      <td>${fmtMs(a.durationMs)}</td>
      <td>${a.id === row.id ? html`<small>${a.failoverInfo || "this row"}</small>`
        : html`<button type="button" class="link" onClick=${() => onOpen(a.id)}>${a.failoverInfo || "open"}</button>`}</td>
    </tr>`)}</tbody>
  </table>`;
}

function Detail({ id, keys, onOpen, onClose }) {
  const [row, setRow] = useState(null);
  const [debug, setDebug] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    setDebug(null);
    get(`/api/logs/${encodeURIComponent(id)}`).then(async (r) => {
      setRow(r);
      if (r.hasDebugData) setDebug(await get(`/api/logs/${encodeURIComponent(id)}/debug`));
    }).catch(setError);
  }, [id]);
  const chain = row && parseChain(row.failoverInfo);
  return html`<${Modal} title=${`Request ${id}`} onClose=${onClose} wide>
    <${ErrorNote} error=${error} />
    ${row ? html`<div class="detail">
      <dl class="kv">
        <dt>Status</dt><dd>${row.status} · HTTP ${row.httpStatus || "–"}</dd>
        <dt>Model</dt><dd>${row.model}${row.responseModel && row.responseModel !== row.model ? ` → ${row.responseModel}` : ""}</dd>
        <dt>Channel</dt><dd>${row.channelName || "–"} (${row.type})</dd>
        <dt>Endpoint</dt><dd>${row.endpoint} ${row.stream ? "(stream)" : ""}</dd>
        <dt>Client / session</dt><dd>${row.clientId || "–"} / ${row.sessionId || "–"}</dd>
        <dt>Client key</dt><dd>${keyName(row.apiKeyId, keys)}</dd>
        <dt>Started</dt><dd>${fmtTime(row.initialTime)}</dd>
        <dt>First token</dt><dd>${fmtMs(row.firstTokenDurationMs)}</dd>
        <dt>Duration</dt><dd>${fmtMs(row.durationMs)}</dd>
        <dt>Tokens</dt><dd>in ${fmtInt(row.inputTokens)} · out ${fmtInt(row.outputTokens)} · cache write ${fmtInt(row.cacheCreationInputTokens)} · cache read ${fmtInt(row.cacheReadInputTokens)}</dd>
        <dt>Cost</dt><dd>${fmtCost(row.price)} (in ${fmtCost(row.inputCost)}, out ${fmtCost(row.outputCost)}, cache ${fmtCost(row.cacheCreationCost + row.cacheReadCost)})</dd>
        ${row.error ? html`<dt>Error</dt><dd class="error-text">${row.error}</dd>` : null}
        ${row.upstreamError ? html`<dt>Upstream error</dt><dd class="mono">${row.upstreamError}</dd>` : null}
      </dl>
      <h3>Failover chain</h3>
      <${Chain} row=${row} onOpen=${onOpen} />
      ${chain && chain.length ? html`<h4>This attempt</h4><ol class="chain">${chain.map((parts) => html`<li>
        ${parts.map((p, i) => html`${i ? " → " : ""}<code>${p}</code>`)}</li>`)}</ol>
        <p class="hint">Status and subtype the upstream answered, the action the failover rules chose, and its details.</p>` : null}
      <h3>Debug capture</h3>
      ${!row.hasDebugData ? html`<p class="muted">None captured (enable debug logs under Settings).</p>` : debug ? html`
        <p>${debug.requestMethod} ${debug.requestPath} → ${debug.responseStatus}</p>
        <${Headers} title="Request headers (masked)" map=${debug.requestHeaders} />
        <h4>Request body</h4><pre class="body">${debug.requestBody}</pre>
        <${Headers} title="Response headers" map=${debug.responseHeaders} />
        <h4>Response body</h4><pre class="body">${debug.responseBody}</pre>` : html`<p class="muted">Loading…</p>`}
    </div>` : null}
  <//>`;
}

export function Logs() {
  const [draft, setDraft] = useState(EMPTY);
  const [filters, setFilters] = useState(EMPTY);
  const [cursors, setCursors] = useState([null]); // cursor of each page seen, newest first
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const [tail, setTail] = useState(true);
  const [live, setLive] = useState("off");
  const [detail, setDetail] = useState(null);
  const [keys, setKeys] = useState([]);
  useEffect(() => { get("/api/keys?limit=500").then((r) => setKeys(r.keys)).catch(setError); }, []);
  const cursor = cursors[cursors.length - 1];
  const pending = useRef(null);

  const load = async () => {
    try { setPage(await get(`/api/logs${query(params(filters, cursor))}`)); setError(null); }
    catch (ex) { setError(ex); }
  };
  useEffect(() => { load(); }, [filters, cursor]);

  // Live tail: on the first page, one list query per burst of events (at most one a second).
  const first = cursors.length === 1;
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    if (!tail || !first) { setLive("off"); return undefined; }
    const ctl = new AbortController();
    stream("/api/logs/stream", () => {
      if (pending.current) return;
      pending.current = setTimeout(() => { pending.current = null; loadRef.current(); }, 1000);
    }, ctl.signal, setLive);
    return () => { ctl.abort(); clearTimeout(pending.current); pending.current = null; };
  }, [tail, first]);

  const apply = (ev) => { ev.preventDefault(); setCursors([null]); setFilters(draft); };
  const reset = () => { setDraft(EMPTY); setCursors([null]); setFilters(EMPTY); };
  const rows = page ? page.requests : [];
  return html`<h1>Request logs</h1>
    <form class="filters" onSubmit=${apply} aria-label="Filters">
      ${FILTERS.map(([k, label, type]) => html`<div class="field">
        <label for=${"f-" + k}>${label}</label>
        <input id=${"f-" + k} type=${type} value=${draft[k]} onInput=${(e) => setDraft({ ...draft, [k]: e.target.value })} />
      </div>`)}
      <div class="field">
        <label for="f-apiKeyId">Client key</label>
        <select id="f-apiKeyId" value=${draft.apiKeyId} onChange=${(e) => setDraft({ ...draft, apiKeyId: e.target.value })}>
          <option value="">any</option>
          <option value="0">master key</option>
          ${keys.map((k) => html`<option value=${String(k.id)}>${k.name} (#${k.id})</option>`)}
        </select>
      </div>
      <div class="actions"><button type="submit" class="primary">Apply</button><button type="button" onClick=${reset}>Clear</button></div>
    </form>
    <div class="toolbar">
      <label><input type="checkbox" checked=${tail} onChange=${(e) => setTail(e.target.checked)} /> Live tail</label>
      <span class=${"live " + live} role="status">${live === "live" ? "● live" : live === "reconnecting" ? "reconnecting…" : first ? "paused" : "live tail runs on the first page"}</span>
      <span class="muted">${page ? `${fmtInt(page.total)}${page.totalExact ? "" : "+"} ${page.total === 1 ? "row matches" : "rows match"}` : ""}</span>
    </div>
    <${ErrorNote} error=${error} onReload=${load} />
    <table class="logs">
      <thead><tr><th>Time</th><th>Status</th><th>Model</th><th>Channel</th><th>Endpoint</th><th>Tokens in/out</th><th>Cost</th><th>Duration</th><th>Client / session</th><th>Key</th></tr></thead>
      <tbody>${rows.map((r) => html`<tr class=${"clickable " + (r.httpStatus >= 400 || r.status === "error" ? "bad" : "")} tabindex="0"
          data-log=${r.id} onClick=${() => setDetail(r.id)} onKeyDown=${(e) => { if (e.key === "Enter") setDetail(r.id); }}>
        <td>${fmtTime(r.initialTime || r.createdAt)}</td>
        <td><span class=${"badge " + r.status}>${r.status}</span> ${r.httpStatus || ""}</td>
        <td>${r.model}</td>
        <td>${r.channelName || "–"}${parseChain(r.failoverInfo) ? html` <small class="muted">(failover)</small>` : null}</td>
        <td>${r.endpoint}</td>
        <td>${fmtInt(r.inputTokens)} / ${fmtInt(r.outputTokens)}</td>
        <td>${fmtCost(r.price)}</td>
        <td>${fmtMs(r.durationMs)}</td>
        <td><small>${r.clientId || "–"}<br />${r.sessionId || ""}</small></td>
        <td><small title=${r.apiKeyId > 0 ? `key #${r.apiKeyId}` : null}>${keyName(r.apiKeyId, keys, true)}</small></td>
      </tr>`)}</tbody>
    </table>
    ${page && rows.length === 0 ? html`<p class="empty">No requests match.</p>` : null}
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled=${first} onClick=${() => setCursors([null])}>Newest</button>
      <button type="button" disabled=${first} onClick=${() => setCursors(cursors.slice(0, -1))}>Newer</button>
      <button type="button" disabled=${!page || !page.nextCursor} onClick=${() => setCursors([...cursors, page.nextCursor])}>Older</button>
    </nav>
    ${detail ? html`<${Detail} id=${detail} keys=${keys} onOpen=${setDetail} onClose=${() => setDetail(null)} />` : null}`;
}
