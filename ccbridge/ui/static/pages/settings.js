// Editors for pricing, aliases and the settings sections of /api/config.
import { useState } from "../vendor/hooks.js";
import { request } from "../lib/api.js";
import { SchemaFields } from "../lib/form.js";
import { bodySchema } from "../lib/schema.js";
import { Confirm, ErrorNote, Loading, html, useLoad } from "../lib/ui.js";

const SECTIONS = [
  ["pricing", "Pricing"],
  ["model-aliases", "Model aliases", "/api/model-aliases", "/api/model-aliases/reset"],
  ["user-aliases", "User aliases"],
  ["ratelimit", "Rate limits", "/api/ratelimit", "/api/ratelimit/reset"],
  ["failover", "Failover rules", "/api/config/failover", "/api/config/failover/reset"],
  ["debug-log", "Debug logs", "/api/config/debug-log"],
  ["user-agent", "User agent", "/api/config/user-agent"],
  ["outbound", "Outbound headers", "/api/config/outbound-header-policy"],
];

// A settings object as a form drawn from its PUT body schema (lib/form.js).
function ObjectEditor({ path, reset, name }) {
  const state = useLoad(path, [path]);
  const [draft, setDraft] = useState(null);
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState("");
  const [confirm, setConfirm] = useState(false);
  const [generation, setGeneration] = useState(0); // redraws the fields after a reload
  if (!state.data) return html`<${Loading} state=${state} />`;
  const schema = bodySchema(path, "put");
  const value = draft || state.data;
  const reload = async () => {
    setDraft(null); setError(null); setErrors({}); setGeneration(generation + 1); await state.reload();
  };
  const save = async (ev) => {
    ev.preventDefault();
    setSaved("");
    try {
      await request("PUT", path, { body: value, ifMatch: state.revision });
      setDraft(null); setError(null); setErrors({}); setSaved("Saved.");
      await state.reload(); setGeneration(generation + 1);
    } catch (ex) { setError(ex); setErrors(ex.field ? { [ex.field]: ex.message } : {}); }
  };
  const prefix = `set-${name}`.replace(/\W+/g, "-");
  return html`<form class="section-form" onSubmit=${save} aria-label=${name} novalidate>
    <${SchemaFields} key=${generation} schema=${schema} value=${value} errors=${errors} prefix=${prefix}
      onChange=${(v) => { setDraft(v); setSaved(""); }} />
    <${ErrorNote} error=${error} onReload=${reload} />
    <div class="actions">
      <button type="submit" class="primary">Save</button>
      <button type="button" onClick=${reload}>Discard changes</button>
      ${reset ? html`<button type="button" class="danger" onClick=${() => setConfirm(true)}>Reset to defaults</button>` : null}
      <span role="status" class="ok">${saved}</span>
    </div>
    ${confirm ? html`<${Confirm} title="Reset to defaults" yes="Reset" message=${`Replace the ${name.toLowerCase()} with ccbridge's defaults?`}
      onYes=${async () => { await request("POST", reset, { ifMatch: state.revision }); await reload(); }} onClose=${() => setConfirm(false)} />` : null}
  </form>`;
}

const PRICE_COLS = [["inputPrice", "Input"], ["outputPrice", "Output"], ["cacheCreationPrice", "Cache write"], ["cacheReadPrice", "Cache read"]];

function Pricing() {
  const state = useLoad("/api/pricing");
  const [rows, setRows] = useState(null);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState("");
  if (!state.data) return html`<${Loading} state=${state} />`;
  const current = rows || Object.entries(state.data.models).map(([model, p]) => ({ model, ...p }));
  const set = (i, k, v) => setRows(current.map((r, j) => (j === i ? { ...r, [k]: v } : r)));
  const save = async (ev) => {
    ev.preventDefault();
    const models = {};
    for (const r of current) {
      if (!r.model.trim()) continue;
      const { model, ...p } = r;
      models[model.trim()] = Object.fromEntries(Object.entries(p).map(([k, v]) => [k, PRICE_COLS.some(([c]) => c === k) ? (v === "" || v == null ? null : Number(v)) : v]));
    }
    setSaved("");
    try { await request("PUT", "/api/pricing", { body: { ...state.data, models }, ifMatch: state.revision }); setRows(null); setError(null); setSaved("Saved."); await state.reload(); }
    catch (ex) { setError(ex); }
  };
  return html`<form onSubmit=${save} aria-label="Pricing">
    <p class="muted">USD per million tokens.</p>
    <div class="table-scroll"><table class="edit"><thead><tr><th>Model</th>${PRICE_COLS.map(([, l]) => html`<th>${l}</th>`)}<th>Description</th><th>In /v1/models</th><th><span class="sr-only">Remove</span></th></tr></thead>
      <tbody>${current.map((r, i) => html`<tr>
        <td><input aria-label="Model" value=${r.model} onInput=${(e) => set(i, "model", e.target.value)} /></td>
        ${PRICE_COLS.map(([k, l]) => html`<td><input type="number" step="any" min="0" class="num" aria-label=${`${l} price of ${r.model}`} value=${r[k] ?? ""} onInput=${(e) => set(i, k, e.target.value)} /></td>`)}
        <td><input aria-label=${`Description of ${r.model}`} value=${r.description || ""} onInput=${(e) => set(i, "description", e.target.value)} /></td>
        <td><input type="checkbox" aria-label=${`List ${r.model} in /v1/models`} checked=${!!r.exportToModels} onChange=${(e) => set(i, "exportToModels", e.target.checked)} /></td>
        <td><button type="button" aria-label=${`Remove ${r.model}`} onClick=${() => setRows(current.filter((_, j) => j !== i))}>Remove</button></td>
      </tr>`)}</tbody></table></div>
    <${ErrorNote} error=${error} onReload=${() => { setRows(null); setError(null); state.reload(); }} />
    <div class="actions">
      <button type="button" onClick=${() => setRows([...current, { model: "", inputPrice: 0, outputPrice: 0, cacheCreationPrice: null, cacheReadPrice: null, description: "", exportToModels: false }])}>Add model</button>
      <button type="submit" class="primary">Save prices</button>
      <span role="status" class="ok">${saved}</span>
    </div>
  </form>`;
}

function UserAliases() {
  const state = useLoad("/api/aliases");
  const [user, setUser] = useState("");
  const [alias, setAlias] = useState("");
  const [error, setError] = useState(null);
  const act = async (method, uid, body) => {
    try { await request(method, `/api/aliases/${encodeURIComponent(uid)}`, { body, ifMatch: state.revision }); setError(null); setUser(""); setAlias(""); await state.reload(); }
    catch (ex) { setError(ex); }
  };
  if (!state.data) return html`<${Loading} state=${state} />`;
  const entries = Object.entries(state.data.aliases);
  return html`<p class="muted">A readable name for a client id in logs and stats.</p>
    ${entries.length ? html`<table><thead><tr><th>Client id</th><th>Alias</th><th><span class="sr-only">Actions</span></th></tr></thead>
      <tbody>${entries.map(([u, a]) => html`<tr><td><code>${u}</code></td><td>${a}</td><td><button type="button" aria-label=${`Remove alias of ${u}`} onClick=${() => act("DELETE", u)}>Remove</button></td></tr>`)}</tbody></table>`
      : html`<p class="empty">No aliases.</p>`}
    <form class="inline" onSubmit=${(e) => { e.preventDefault(); act("PUT", user, { alias }); }}>
      <label for="alias-user">Client id</label><input id="alias-user" value=${user} onInput=${(e) => setUser(e.target.value)} />
      <label for="alias-name">Alias</label><input id="alias-name" value=${alias} onInput=${(e) => setAlias(e.target.value)} />
      <button type="submit" disabled=${!user.trim()}>Set alias</button>
    </form>
    <${ErrorNote} error=${error} onReload=${state.reload} />`;
}

export function Settings({ rest }) {
  const [tab, setTab] = useState(SECTIONS.some((s) => s[0] === rest[0]) ? rest[0] : "pricing");
  const choose = (t) => { setTab(t); history.replaceState(null, "", `#/settings/${t}`); };
  const section = SECTIONS.find((s) => s[0] === tab);
  let body;
  if (tab === "pricing") body = html`<${Pricing} />`;
  else if (tab === "user-aliases") body = html`<${UserAliases} />`;
  else body = html`<${ObjectEditor} key=${tab} name=${section[1]} path=${section[2]} reset=${section[3]} />`;
  return html`<h1>Settings</h1>
    <div role="tablist" class="tabs" aria-label="Settings sections">
      ${SECTIONS.map(([t, label]) => html`<button type="button" role="tab" id=${"stab-" + t} aria-selected=${t === tab ? "true" : "false"} onClick=${() => choose(t)}>${label}</button>`)}
    </div>
    <div role="tabpanel" aria-labelledby=${"stab-" + tab}><h2>${section[1]}</h2>${body}</div>`;
}
