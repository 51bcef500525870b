// Client keys: create (secret shown once), permissions, RPM, rotate, status.
import { useState } from "../vendor/hooks.js";
import { request } from "../lib/api.js";
import { fieldOf } from "../lib/schema.js";
import { Confirm, ErrorNote, Field, Loading, Modal, fmtCost, fmtInt, fmtTime, html, useLoad } from "../lib/ui.js";

const ENDPOINTS = ["messages", "responses", "gemini", "chat", "messages_current_channel"];
const LISTS = [
  ["allowedModels", "Allowed models"],
  ["allowedChannelsMsg", "Allowed messages channels"],
  ["allowedChannelsResp", "Allowed responses channels"],
  ["allowedChannelsGemini", "Allowed Gemini channels"],
  ["allowedChannelsChat", "Allowed chat channels"],
];
// An empty list field means "no restriction" (null), as the API reads it.
const listIn = (v) => (v ? v.join(", ") : "");
const listOut = (s) => { const l = s.split(",").map((x) => x.trim()).filter(Boolean); return l.length ? l : null; };
const PERIODS = ["total", "daily", "weekly", "monthly"];
// <input type="datetime-local"> speaks local time without an offset; the API wants RFC 3339.
const pad = (n) => String(n).padStart(2, "0");
function localIn(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
const localOut = (s) => (s ? new Date(s).toISOString() : null);
const numOut = (s) => (s === "" ? null : Number(s));
// Spent when either budget is used up: the next request is refused.
const isSpent = (k) => (k.budgetUsd != null && k.spentUsd >= k.budgetUsd) || (k.tokenBudget != null && k.tokensUsed >= k.tokenBudget);

function Budget({ label, used, limit, fmt, period, resets }) {
  return html`<div class="budget">
    <meter min="0" max=${limit} value=${Math.min(used, limit)} high=${limit * 0.8} optimum="0" aria-label=${label}></meter>
    <small>${fmt(used)} / ${fmt(limit)} ${period}${resets ? html`<br />resets ${fmtTime(resets)}` : null}</small>
  </div>`;
}

function BudgetCell({ k }) {
  if (k.budgetUsd == null && k.tokenBudget == null) return html`<span class="muted">none</span>`;
  return html`${k.budgetUsd != null ? html`<${Budget} label=${`Spend of ${k.name}`} used=${k.spentUsd} limit=${k.budgetUsd} fmt=${fmtCost} period=${k.budgetPeriod} resets=${k.budgetResetsAt} />` : null}
    ${k.tokenBudget != null ? html`<${Budget} label=${`Tokens of ${k.name}`} used=${k.tokensUsed} limit=${k.tokenBudget} fmt=${fmtInt} period=${k.tokenBudgetPeriod} resets=${k.tokenBudgetResetsAt} />` : null}`;
}

function PeriodSelect({ id, value, onChange }) {
  return html`<select id=${id} value=${value} onChange=${(e) => onChange(e.target.value)}>
    ${PERIODS.map((p) => html`<option value=${p}>${p === "total" ? "total (never resets)" : p}</option>`)}
  </select>`;
}

function KeyForm({ item, onSaved, onClose }) {
  const [v, setV] = useState(() => ({
    name: item ? item.name : "",
    description: item ? item.description : "",
    isAdmin: item ? item.isAdmin : false,
    rateLimitRpm: item ? String(item.rateLimitRpm) : "0",
    endpoints: item && item.allowedEndpoints ? item.allowedEndpoints : null,
    expiresAt: localIn(item && item.expiresAt),
    budgetUsd: item && item.budgetUsd != null ? String(item.budgetUsd) : "",
    budgetPeriod: item ? item.budgetPeriod || "total" : "total",
    tokenBudget: item && item.tokenBudget != null ? String(item.tokenBudget) : "",
    tokenBudgetPeriod: item ? item.tokenBudgetPeriod || "total" : "total",
    ...Object.fromEntries(LISTS.map(([k]) => [k, listIn(item && item[k])])),
  }));
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const set = (k, x) => setV({ ...v, [k]: x });
  const save = async (ev) => {
    ev.preventDefault();
    const body = {
      name: v.name, description: v.description, isAdmin: v.isAdmin,
      rateLimitRpm: v.rateLimitRpm === "" ? 0 : Number(v.rateLimitRpm),
      allowedEndpoints: v.endpoints,
      expiresAt: localOut(v.expiresAt),
      budgetUsd: numOut(v.budgetUsd), budgetPeriod: v.budgetPeriod,
      tokenBudget: numOut(v.tokenBudget), tokenBudgetPeriod: v.tokenBudgetPeriod,
      ...Object.fromEntries(LISTS.map(([k]) => [k, listOut(v[k])])),
    };
    setError(null);
    try {
      const res = item ? await request("PUT", `/api/keys/${item.id}`, { body }) : await request("POST", "/api/keys", { body });
      onSaved(res.data);
    } catch (ex) { setErrors(fieldOf(ex.field) ? { [fieldOf(ex.field)]: ex.message } : {}); setError(ex); }
  };
  const toggleEndpoint = (e, on) => {
    const cur = v.endpoints || [];
    const next = on ? [...cur, e] : cur.filter((x) => x !== e);
    set("endpoints", next);
  };
  return html`<${Modal} title=${item ? `Edit key ${item.name}` : "New client key"} onClose=${onClose} wide>
    <form onSubmit=${save} novalidate>
      <div class="grid2">
        <${Field} id="key-name" label="Name" error=${errors.name}><input id="key-name" value=${v.name} onInput=${(e) => set("name", e.target.value)} /><//>
        <${Field} id="key-rpm" label="Requests per minute (0 = the default limit)" error=${errors.rateLimitRpm}>
          <input id="key-rpm" type="number" min="0" value=${v.rateLimitRpm} onInput=${(e) => set("rateLimitRpm", e.target.value)} /><//>
        <${Field} id="key-desc" label="Description" error=${errors.description}><input id="key-desc" value=${v.description} onInput=${(e) => set("description", e.target.value)} /><//>
        <div class="field"><label><input type="checkbox" checked=${v.isAdmin} onChange=${(e) => set("isAdmin", e.target.checked)} /> Admin key (may use this UI and /api)</label></div>
      </div>
      <fieldset>
        <legend>Expiry and budgets</legend>
        <div class="grid2">
          <${Field} id="key-expires" label="Expires at (local time; empty = never)" error=${errors.expiresAt}>
            <input id="key-expires" type="datetime-local" value=${v.expiresAt} onInput=${(e) => set("expiresAt", e.target.value)} /><//>
          <div></div>
          <${Field} id="key-budget" label="Spend budget (USD; empty = none)" error=${errors.budgetUsd}>
            <input id="key-budget" type="number" min="0" step="0.01" value=${v.budgetUsd} onInput=${(e) => set("budgetUsd", e.target.value)} /><//>
          <${Field} id="key-budget-period" label="Spend budget period" error=${errors.budgetPeriod}>
            <${PeriodSelect} id="key-budget-period" value=${v.budgetPeriod} onChange=${(x) => set("budgetPeriod", x)} /><//>
          <${Field} id="key-tokens" label="Token budget (input + output; empty = none)" error=${errors.tokenBudget}>
            <input id="key-tokens" type="number" min="0" step="1" value=${v.tokenBudget} onInput=${(e) => set("tokenBudget", e.target.value)} /><//>
          <${Field} id="key-tokens-period" label="Token budget period" error=${errors.tokenBudgetPeriod}>
            <${PeriodSelect} id="key-tokens-period" value=${v.tokenBudgetPeriod} onChange=${(x) => set("tokenBudgetPeriod", x)} /><//>
        </div>
      </fieldset>
      <fieldset class=${errors.allowedEndpoints ? "invalid" : ""}>
        <legend>Endpoints</legend>
        <label><input type="checkbox" checked=${v.endpoints === null} onChange=${(e) => set("endpoints", e.target.checked ? null : [])} /> All endpoints</label>
        ${v.endpoints !== null ? ENDPOINTS.map((e) => html`<label><input type="checkbox" checked=${v.endpoints.includes(e)} onChange=${(ev) => toggleEndpoint(e, ev.target.checked)} /> ${e}</label>`) : null}
        ${errors.allowedEndpoints ? html`<small class="field-error" role="alert">${errors.allowedEndpoints}</small>` : null}
      </fieldset>
      <div class="grid2">
        ${LISTS.map(([k, label]) => html`<${Field} id=${"key-" + k} label=${label} hint="Comma-separated; empty allows all" error=${errors[k]}>
          <input id=${"key-" + k} value=${v[k]} onInput=${(e) => set(k, e.target.value)} /><//>`)}
      </div>
      <${ErrorNote} error=${error} />
      <div class="actions"><button type="submit" class="primary">${item ? "Save" : "Create key"}</button><button type="button" onClick=${onClose}>Cancel</button></div>
    </form>
  <//>`;
}

function Secret({ title, secret, onClose }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try { await navigator.clipboard.writeText(secret); setCopied(true); }
    catch { document.getElementById("new-secret").select(); }
  };
  return html`<${Modal} title=${title} onClose=${onClose}>
    <p><strong>Copy this key now.</strong> It is shown only once; ccbridge keeps only its hash.</p>
    <div class="inline">
      <label for="new-secret" class="sr-only">New key</label>
      <input id="new-secret" class="mono secret" readonly value=${secret} onFocus=${(e) => e.target.select()} />
      <button type="button" onClick=${copy}>${copied ? "Copied" : "Copy"}</button>
    </div>
    <div class="actions"><button type="button" class="primary" onClick=${onClose}>Done</button></div>
  <//>`;
}

export function Keys() {
  const [status, setStatus] = useState("");
  const state = useLoad(`/api/keys?limit=500${status ? "&status=" + status : ""}`, [status]);
  const [dialog, setDialog] = useState(null);
  const [error, setError] = useState(null);
  const close = () => setDialog(null);
  const act = async (k, action) => {
    setError(null);
    try {
      const res = await request("POST", `/api/keys/${k.id}/${action}`);
      if (action === "rotate") setDialog({ kind: "secret", title: `New secret for ${k.name}`, secret: res.data.key });
      await state.reload();
    } catch (ex) { setError(ex); }
  };
  return html`<h1>Client keys</h1>
    <div class="toolbar">
      <button type="button" class="primary" onClick=${() => setDialog({ kind: "form" })}>New key</button>
      <label for="key-status">Status</label>
      <select id="key-status" value=${status} onChange=${(e) => setStatus(e.target.value)}>
        <option value="">any</option><option value="active">active</option><option value="disabled">disabled</option><option value="revoked">revoked</option>
      </select>
    </div>
    <${ErrorNote} error=${error} />
    <${Loading} state=${state} />
    ${state.data ? (state.data.keys.length === 0 ? html`<p class="empty">No client keys yet.</p>` : html`<table>
      <thead><tr><th>Name</th><th>Key</th><th>Status</th><th>Role</th><th>RPM</th><th>Endpoints</th><th>Budget</th><th>Last used</th><th>Actions</th></tr></thead>
      <tbody>${state.data.keys.map((k) => html`<tr>
        <td><strong>${k.name}</strong>${k.description ? html`<br /><small class="muted">${k.description}</small>` : null}</td>
        <td><code>${k.keyPrefix}</code></td>
        <td><span class=${"badge " + k.status}>${k.status}</span>
          ${k.expired ? html` <span class="badge expired">expired</span>` : isSpent(k) ? html` <span class="badge spent">budget spent</span>` : null}
          ${k.expiresAt ? html`<br /><small class="muted">${k.expired ? "expired" : "expires"} ${fmtTime(k.expiresAt)}</small>` : null}</td>
        <td>${k.isAdmin ? "admin" : "client"}</td>
        <td>${k.rateLimitRpm || "default"}</td>
        <td>${k.allowedEndpoints ? k.allowedEndpoints.join(", ") || "none" : "all"}</td>
        <td><${BudgetCell} k=${k} /></td>
        <td>${fmtTime(k.lastUsedAt)}</td>
        <td class="row-actions">
          ${k.status === "revoked" ? null : html`
            <button type="button" onClick=${() => setDialog({ kind: "form", item: k })}>Edit</button>
            <button type="button" onClick=${() => act(k, "rotate")}>Rotate</button>
            ${k.status === "disabled" ? html`<button type="button" onClick=${() => act(k, "enable")}>Enable</button>`
              : html`<button type="button" onClick=${() => act(k, "disable")}>Disable</button>`}
            <button type="button" class="danger" onClick=${() => setDialog({ kind: "revoke", item: k })}>Revoke</button>`}
          <button type="button" class="danger" onClick=${() => setDialog({ kind: "delete", item: k })}>Delete</button>
        </td>
      </tr>`)}</tbody></table>`) : null}
    ${dialog && dialog.kind === "form" ? html`<${KeyForm} item=${dialog.item} onClose=${close}
      onSaved=${(data) => { state.reload(); setDialog(data.key ? { kind: "secret", title: `Key ${data.name} created`, secret: data.key } : null); }} />` : null}
    ${dialog && dialog.kind === "secret" ? html`<${Secret} title=${dialog.title} secret=${dialog.secret} onClose=${close} />` : null}
    ${dialog && dialog.kind === "revoke" ? html`<${Confirm} title="Revoke key" yes="Revoke"
      message=${`Revoke ${dialog.item.name} for good? Clients using it are refused from now on; this cannot be undone.`}
      onYes=${() => act(dialog.item, "revoke")} onClose=${close} />` : null}
    ${dialog && dialog.kind === "delete" ? html`<${Confirm} title="Delete key" yes="Delete"
      message=${`Delete ${dialog.item.name}? Its logs keep the key id.`}
      onYes=${async () => { await request("DELETE", `/api/keys/${dialog.item.id}`); await state.reload(); }} onClose=${close} />` : null}`;
}
