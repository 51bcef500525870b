// Channels of the four pools: order, status, keys, mapping test, strategy.
import { useState } from "../vendor/hooks.js";
import { get, request } from "../lib/api.js";
import { bodySchema } from "../lib/schema.js";
import { Confirm, ErrorNote, Loading, Modal, fmtMs, fmtTime, html, useLoad } from "../lib/ui.js";
import { ChannelForm } from "./channel_form.js";

export const POOLS = {
  messages: { base: "/api/channels", lb: "/api/loadbalance", label: "Messages (Claude)" },
  responses: { base: "/api/responses/channels", lb: "/api/responses/loadbalance", label: "Responses (Codex)" },
  gemini: { base: "/api/gemini/channels", lb: "/api/gemini/loadbalance", label: "Gemini" },
  chat: { base: "/api/chat/channels", lb: "/api/chat/loadbalance", label: "Chat" },
};

// The scheduler's order: priority, where 0 stands for the channel's index.
const byPriority = (a, b) => (a.priority || a.index) - (b.priority || b.index) || a.index - b.index;

async function loadPool(pool) {
  const { base } = POOLS[pool];
  const res = await request("GET", base);
  const metrics = await get(`${base}/metrics`);
  const health = Object.fromEntries(metrics.map((m) => [m.channelId, m]));
  return { data: { ...res.data, health }, revision: res.revision };
}

function KeysDialog({ base, channel, revision, onChanged, onClose }) {
  const [apiKey, setApiKey] = useState("");
  const [error, setError] = useState(null);
  const path = `${base}/${encodeURIComponent(channel.id)}/keys`;
  const act = async (method, url, body) => {
    setError(null);
    try { await request(method, url, { body, ifMatch: revision }); await onChanged(); if (body) setApiKey(""); }
    catch (ex) { setError(ex); }
  };
  return html`<${Modal} title=${`Keys of ${channel.name}`} onClose=${onClose}>
    <ol class="keys">
      ${channel.maskedKeys.map((k) => html`<li>
        <code>${k.masked}</code>
        <span class="row-actions">
          <button type="button" aria-label=${`Move key ${k.index + 1} to top`} disabled=${k.index === 0} onClick=${() => act("POST", `${path}/index/${k.index}/top`)}>Top</button>
          <button type="button" aria-label=${`Move key ${k.index + 1} to bottom`} disabled=${k.index === channel.maskedKeys.length - 1} onClick=${() => act("POST", `${path}/index/${k.index}/bottom`)}>Bottom</button>
          <button type="button" class="danger" aria-label=${`Remove key ${k.index + 1}`} onClick=${() => act("DELETE", `${path}/index/${k.index}`)}>Remove</button>
        </span>
      </li>`)}
    </ol>
    ${channel.maskedKeys.length === 0 ? html`<p class="muted">No keys.</p>` : null}
    <form class="inline" onSubmit=${(e) => { e.preventDefault(); act("POST", path, { apiKey }); }}>
      <label for="new-upstream-key">Add a key</label>
      <input id="new-upstream-key" type="password" autocomplete="off" value=${apiKey} onInput=${(e) => setApiKey(e.target.value)} />
      <button type="submit" disabled=${!apiKey.trim()}>Add</button>
    </form>
    <p class="hint">Keys are stored as given and only ever shown masked.</p>
    <${ErrorNote} error=${error} onReload=${onChanged} />
  <//>`;
}

// One real request through the channel (its URL, first key, TLS setting):
// the upstream's model list. Returns a line saying what came back.
async function probeUpstream(base, channel) {
  const started = performance.now();
  try {
    const res = await get(`${base}/${encodeURIComponent(channel.id)}/models`);
    const ms = Math.round(performance.now() - started);
    const some = res.models.slice(0, 8).join(", ");
    return { ok: true, text: `Upstream answered in ${ms} ms with ${res.models.length} model(s)${some ? ": " + some : ""}.` };
  } catch (ex) {
    return { ok: false, text: ex.message };
  }
}

function TestDialog({ base, channel, onClose }) {
  const [model, setModel] = useState("claude-sonnet-4-5");
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [probe, setProbe] = useState(null);
  const run = async (ev) => {
    ev.preventDefault();
    setError(null);
    try { setResult(await get(`${base}/${encodeURIComponent(channel.id)}/test-mapping?model=${encodeURIComponent(model)}`)); }
    catch (ex) { setResult(null); setError(ex); }
  };
  return html`<${Modal} title=${`Test ${channel.name}`} onClose=${onClose}>
    <h3>Upstream</h3>
    <div class="inline">
      <button type="button" disabled=${probe === "busy"} onClick=${async () => { setProbe("busy"); setProbe(await probeUpstream(base, channel)); }}>Send a request to the upstream</button>
    </div>
    ${probe && probe !== "busy" ? html`<p class=${"note " + (probe.ok ? "ok" : "error")} role="status">${probe.text}</p>` : null}
    <h3>Model mapping</h3>
    <form class="inline" onSubmit=${run}>
      <label for="test-model">Client model</label>
      <input id="test-model" value=${model} onInput=${(e) => setModel(e.target.value)} />
      <button type="submit">Test</button>
    </form>
    ${result ? html`<dl class="kv"><dt>Requested</dt><dd>${result.model}</dd><dt>Sent upstream as</dt><dd><strong>${result.mappedModel}</strong></dd>
      ${result.targetChannelId !== undefined ? html`<dt>Target channel</dt><dd>${result.targetChannelId || "–"}</dd>` : null}</dl>` : null}
    <${ErrorNote} error=${error} />
  <//>`;
}

function Row({ c, h, i, count, busy, onMove, onAct, drag }) {
  const state = h && h.broken ? "breaker open" : h && h.suspendedUntil ? "suspended" : c.status;
  return html`<tr draggable="true" data-channel=${c.id} class=${drag.over === i ? "drop-target" : ""}
      onDragStart=${(e) => { drag.set({ from: i, over: null }); e.dataTransfer.effectAllowed = "move"; e.dataTransfer.setData("text/plain", c.id); }}
      onDragOver=${(e) => { e.preventDefault(); if (drag.over !== i) drag.set({ ...drag, over: i }); }}
      onDrop=${(e) => { e.preventDefault(); onMove(drag.from, i); }}
      onDragEnd=${() => drag.set({ from: null, over: null })}>
    <td class="handle" title="Drag to reorder" aria-hidden="true">⋮⋮</td>
    <td>${i + 1}${c.priority ? null : html`<br /><small class="muted">by index</small>`}</td>
    <td><strong>${c.name}</strong><br /><small class="muted">${c.serviceType} · ${c.baseUrl || "no URL"}</small></td>
    <td><span class=${"badge " + state.replace(/ /g, "-")}>${state}</span>
      ${c.promotionUntil ? html`<br /><small>promoted until ${fmtTime(c.promotionUntil)}</small>` : null}</td>
    <td>${c.apiKeyCount}</td>
    <td>${h ? `${Math.round(h.failureRate * 100)} %` : "–"}</td>
    <td>${fmtMs(c.latency)}</td>
    <td class="row-actions">
      <button type="button" aria-label=${`Move ${c.name} up`} disabled=${busy || i === 0} onClick=${() => onMove(i, i - 1)}>↑</button>
      <button type="button" aria-label=${`Move ${c.name} down`} disabled=${busy || i === count - 1} onClick=${() => onMove(i, i + 1)}>↓</button>
      <button type="button" onClick=${() => onAct("edit", c)}>Edit</button>
      <button type="button" onClick=${() => onAct("keys", c)}>Keys</button>
      <button type="button" onClick=${() => onAct("test", c)}>Test</button>
      ${c.status === "disabled"
        ? html`<button type="button" onClick=${() => onAct("enable", c)}>Enable</button>`
        : html`<button type="button" onClick=${() => onAct("disable", c)}>Disable</button>`}
      ${c.promotionUntil
        ? html`<button type="button" onClick=${() => onAct("unpromote", c)}>End promotion</button>`
        : html`<button type="button" onClick=${() => onAct("promote", c)}>Promote…</button>`}
      ${h && (h.broken || h.suspendedUntil) ? html`<button type="button" onClick=${() => onAct("resume", c)}>Resume</button>` : null}
      <button type="button" class="danger" onClick=${() => onAct("delete", c)}>Delete</button>
    </td>
  </tr>`;
}

const PROMOTIONS = [[900, "15 minutes"], [3600, "1 hour"], [4 * 3600, "4 hours"], [12 * 3600, "12 hours"], [86400, "1 day"], [7 * 86400, "7 days"]];

// Promote a channel (tried first in its pool) for a chosen time.
function PromoteDialog({ base, channel, onPromote, onClose }) {
  const prop = (bodySchema(`${base}/{id}/promotion`, "post").properties || {}).duration || {};
  const choices = PROMOTIONS.filter(([secs]) => prop.maximum == null || secs <= prop.maximum);
  const [duration, setDuration] = useState(3600);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const go = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    try { await onPromote(duration); onClose(); } catch (ex) { setError(ex); setBusy(false); }
  };
  return html`<${Modal} title=${`Promote ${channel.name}`} onClose=${onClose}>
    <form onSubmit=${go}>
      <p>A promoted channel is tried first in its pool until the time runs out (one per pool).</p>
      <div class="field">
        <label for="promote-duration">Promotion lasts</label>
        <select id="promote-duration" value=${String(duration)} onChange=${(e) => setDuration(Number(e.target.value))}>
          ${choices.map(([secs, label]) => html`<option value=${String(secs)}>${label}</option>`)}
        </select>
      </div>
      <${ErrorNote} error=${error} />
      <div class="actions">
        <button type="submit" class="primary" disabled=${busy}>Promote</button>
        <button type="button" onClick=${onClose}>Cancel</button>
      </div>
    </form>
  <//>`;
}

function PoolView({ pool }) {
  const { base, lb } = POOLS[pool];
  const state = useLoad(() => loadPool(pool), [pool]);
  const [dialog, setDialog] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [dragState, setDrag] = useState({ from: null, over: null });
  const [targets, setTargets] = useState({});
  const lbSchema = bodySchema(lb, "put").properties || {};
  const strategies = (lbSchema.strategy && lbSchema.strategy.enum) || ["failover"];
  const loading = html`<${Loading} state=${state} />`;
  if (!state.data) return loading;
  const channels = [...state.data.channels].sort(byPriority);
  const rev = state.revision;
  const item = (c) => `${base}/${encodeURIComponent(c.id)}`;

  const write = async (method, path, body) => {
    setError(null);
    setBusy(true);
    try { await request(method, path, { body, ifMatch: rev }); await state.reload(); }
    catch (ex) { setError(ex); }
    setBusy(false);
  };
  const move = (from, to) => {
    if (from == null || to == null || from === to || to < 0 || to >= channels.length) return;
    const order = channels.map((c) => c.index);
    const [m] = order.splice(from, 1);
    order.splice(to, 0, m);
    setDrag({ from: null, over: null });
    write("POST", `${base}/reorder`, { order });
  };
  const openForm = async (c) => {
    const all = {};
    for (const p of ["messages", "responses"]) all[p] = (await get(POOLS[p].base)).channels;
    setTargets(all);
    setDialog({ kind: "edit", c });
  };
  const onAct = (kind, c) => {
    if (kind === "edit") return openForm(c);
    if (kind === "enable") return write("PATCH", `${item(c)}/status`, { status: "active" });
    if (kind === "disable") return write("PATCH", `${item(c)}/status`, { status: "disabled" });
    if (kind === "unpromote") return write("POST", `${item(c)}/promotion`, { duration: 0 });
    if (kind === "resume") return write("POST", `${item(c)}/resume`);
    setDialog({ kind, c });
  };
  const close = () => setDialog(null);
  const saved = async () => { close(); await state.reload(); };
  const current = dialog && dialog.c && state.data.channels.find((c) => c.id === dialog.c.id);

  return html`<section aria-label=${POOLS[pool].label}>
    <div class="toolbar">
      <button type="button" class="primary" onClick=${() => openForm(null)}>New channel</button>
      <label for=${"lb-" + pool}>Load balance</label>
      <select id=${"lb-" + pool} value=${state.data.loadBalance} disabled=${busy}
        onChange=${(e) => write("PUT", lb, { strategy: e.target.value })}>
        ${strategies.map((s) => html`<option value=${s}>${s}</option>`)}
      </select>
      <button type="button" onClick=${state.reload}>Refresh</button>
    </div>
    <${ErrorNote} error=${error} onReload=${() => { setError(null); state.reload(); }} />
    ${channels.length === 0 ? html`<p class="empty">No channels in this pool yet.</p>` : html`<table class="channels">
      <caption class="sr-only">Channels in scheduling order; drag a row or use the arrows to reorder</caption>
      <thead><tr><th><span class="sr-only">Drag</span></th><th>Order</th><th>Channel</th><th>Status</th><th>Keys</th><th>Failure rate</th><th>Latency</th><th>Actions</th></tr></thead>
      <tbody>${channels.map((c, i) => html`<${Row} key=${c.id} c=${c} h=${state.data.health[c.id]} i=${i} count=${channels.length}
        busy=${busy} onMove=${move} onAct=${onAct} drag=${{ ...dragState, set: setDrag }} />`)}</tbody>
    </table>`}
    ${dialog && dialog.kind === "edit" ? html`<${ChannelForm} base=${base} channel=${dialog.c} revision=${rev} targets=${targets}
      onSaved=${saved} onClose=${close} onReload=${saved} />` : null}
    ${dialog && dialog.kind === "keys" && current ? html`<${KeysDialog} base=${base} channel=${current} revision=${rev}
      onChanged=${state.reload} onClose=${close} />` : null}
    ${dialog && dialog.kind === "promote" ? html`<${PromoteDialog} base=${base} channel=${dialog.c}
      onPromote=${async (duration) => { await request("POST", `${item(dialog.c)}/promotion`, { body: { duration }, ifMatch: rev }); await state.reload(); }}
      onClose=${close} />` : null}
    ${dialog && dialog.kind === "test" ? html`<${TestDialog} base=${base} channel=${dialog.c} onClose=${close} />` : null}
    ${dialog && dialog.kind === "delete" ? html`<${Confirm} title="Delete channel" yes="Delete"
      message=${`Delete ${dialog.c.name}? Its keys and settings are removed; logs keep its name.`}
      onYes=${async () => { await request("DELETE", item(dialog.c), { ifMatch: rev }); await state.reload(); }} onClose=${close} />` : null}
  </section>`;
}

export function Channels({ rest }) {
  const [pool, setPool] = useState(POOLS[rest[0]] ? rest[0] : "messages");
  const choose = (p) => { setPool(p); history.replaceState(null, "", `#/channels/${p}`); };
  return html`<h1>Channels</h1>
    <div role="tablist" class="tabs" aria-label="Pools">
      ${Object.entries(POOLS).map(([p, { label }]) => html`<button type="button" role="tab" id=${"tab-" + p}
        aria-selected=${p === pool ? "true" : "false"} onClick=${() => choose(p)}>${label}</button>`)}
    </div>
    <div role="tabpanel" aria-labelledby=${"tab-" + pool}><${PoolView} key=${pool} pool=${pool} /></div>`;
}
