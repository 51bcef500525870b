// Create or edit a channel: every field the API accepts, from its schema.
import { useState } from "../vendor/hooks.js";
import { request } from "../lib/api.js";
import { bodySchema, fieldOf, kindOf, labelOf } from "../lib/schema.js";
import { ErrorNote, Field, Modal, html, uid } from "../lib/ui.js";

// Shown first and in this order; the rest follow as "More settings".
const MAIN = ["name", "serviceType", "baseUrl", "description", "website", "status", "priority"];
const SKIP = new Set(["apiKeys", "modelMapping", "compositeMappings", "id"]);

function toInput(kind, value) {
  if (value == null) return kind === "boolean" ? false : "";
  if (kind === "json") return JSON.stringify(value, null, 2);
  if (kind === "list") return value.join(", ");
  return value;
}

function fromInput(kind, raw) {
  if (kind === "boolean") return raw;
  if (kind === "integer" || kind === "number") {
    if (raw === "" || raw == null) return null;
    const n = Number(raw);
    if (Number.isNaN(n)) throw new Error("must be a number");
    return n;
  }
  if (kind === "json") return raw.trim() === "" ? null : JSON.parse(raw);
  if (kind === "list") return raw.split(",").map((s) => s.trim()).filter(Boolean);
  if (kind === "datetime") return raw === "" ? null : raw;
  return raw;
}

function Control({ id, name, prop, kind, value, onChange, error }) {
  const desc = error ? `${id}-err` : null;
  const common = { id, name, "aria-invalid": error ? "true" : null, "aria-describedby": desc };
  if (kind === "boolean") {
    return html`<input type="checkbox" ...${common} checked=${value} onChange=${(e) => onChange(e.target.checked)} />`;
  }
  if (kind === "enum") {
    return html`<select ...${common} value=${value} onChange=${(e) => onChange(e.target.value)}>
      ${prop.enum.map((v) => html`<option value=${v}>${v === "" ? "(default)" : v}</option>`)}
    </select>`;
  }
  if (kind === "json") {
    return html`<textarea ...${common} rows="4" class="mono" value=${value} onInput=${(e) => onChange(e.target.value)} />`;
  }
  const type = kind === "integer" || kind === "number" ? "number" : "text";
  return html`<input type=${type} step=${kind === "number" ? "any" : null} ...${common} value=${value}
    onInput=${(e) => onChange(e.target.value)} />`;
}

// Model mapping: client model -> upstream model, one row each.
function MappingEditor({ rows, setRows, error }) {
  const set = (i, k, v) => setRows(rows.map((r, j) => (j === i ? { ...r, [k]: v } : r)));
  return html`<fieldset class=${error ? "invalid" : ""}>
    <legend>Model mapping</legend>
    ${rows.length === 0 ? html`<p class="muted">No mapping: models pass through unchanged.</p>` : null}
    ${rows.map((r, i) => html`<div class="row-inputs">
      <label>From model <input value=${r.from} onInput=${(e) => set(i, "from", e.target.value)} /></label>
      <label>To model <input value=${r.to} onInput=${(e) => set(i, "to", e.target.value)} /></label>
      <button type="button" aria-label=${`Remove mapping ${i + 1}`} onClick=${() => setRows(rows.filter((_, j) => j !== i))}>Remove</button>
    </div>`)}
    <button type="button" onClick=${() => setRows([...rows, { from: "", to: "" }])}>Add mapping</button>
    ${error ? html`<small class="field-error" role="alert">${error}</small>` : null}
  </fieldset>`;
}

// Composite routing: model pattern -> channel of the messages or responses pool.
function CompositeEditor({ rows, setRows, error, targets }) {
  const set = (i, k, v) => setRows(rows.map((r, j) => (j === i ? { ...r, [k]: v } : r)));
  return html`<fieldset class=${error ? "invalid" : ""}>
    <legend>Composite mappings</legend>
    ${rows.map((r, i) => html`<div class="row-inputs">
      <label>Pattern <input value=${r.pattern || ""} onInput=${(e) => set(i, "pattern", e.target.value)} /></label>
      <label>Pool <select value=${r.targetPool || "messages"} onChange=${(e) => set(i, "targetPool", e.target.value)}>
        <option value="messages">messages</option><option value="responses">responses</option>
      </select></label>
      <label>Channel <select value=${r.targetChannelId || ""} onChange=${(e) => set(i, "targetChannelId", e.target.value)}>
        <option value="">(none)</option>
        ${(targets[r.targetPool || "messages"] || []).map((c) => html`<option value=${c.id}>${c.name}</option>`)}
      </select></label>
      <label>Model <input value=${r.targetModel || ""} onInput=${(e) => set(i, "targetModel", e.target.value)} /></label>
      <button type="button" aria-label=${`Remove composite mapping ${i + 1}`} onClick=${() => setRows(rows.filter((_, j) => j !== i))}>Remove</button>
    </div>`)}
    <button type="button" onClick=${() => setRows([...rows, { pattern: "", targetPool: "messages", targetChannelId: "" }])}>Add composite mapping</button>
    ${error ? html`<small class="field-error" role="alert">${error}</small>` : null}
  </fieldset>`;
}

// Upstream keys of a new channel, one masked field each (never shown in clear).
function NewKeys({ keys, setKeys, error }) {
  const put = (i, v) => setKeys(keys.map((k, j) => (j === i ? v : k)));
  return html`<fieldset class=${"new-keys" + (error ? " invalid" : "")}>
    <legend>Upstream API keys</legend>
    ${keys.map((k, i) => html`<div class="key-field">
      <label for=${"ch-new-key-" + i}>Upstream API key ${i + 1}</label>
      <input id=${"ch-new-key-" + i} type="password" class="mono" autocomplete="off" spellcheck="false" value=${k}
        onInput=${(e) => put(i, e.target.value)} />
      ${keys.length > 1 ? html`<button type="button" aria-label=${`Remove key ${i + 1}`} onClick=${() => setKeys(keys.filter((_, j) => j !== i))}>Remove</button>` : null}
    </div>`)}
    <button type="button" onClick=${() => setKeys([...keys, ""])}>Add another key</button>
    ${error ? html`<small class="field-error" role="alert">${error}</small>` : null}
  </fieldset>`;
}

export function ChannelForm({ base, channel, revision, targets, onSaved, onClose, onReload }) {
  const schema = bodySchema(base, "post");
  const props = Object.entries(schema.properties || {})
    .map(([name, prop]) => [name, prop, kindOf(prop)])
    .filter(([name, , kind]) => kind && !SKIP.has(name));
  const order = (n) => (MAIN.includes(n) ? MAIN.indexOf(n) : 100);
  props.sort((a, b) => order(a[0]) - order(b[0]));
  const [values, setValues] = useState(() =>
    Object.fromEntries(props.map(([name, , kind]) => [name, toInput(kind, channel ? channel[name] : kind === "enum" ? schema.properties[name].enum[0] : null)])));
  const [keys, setKeys] = useState([""]);
  const [mapping, setMapping] = useState(() => Object.entries((channel && channel.modelMapping) || {}).map(([from, to]) => ({ from, to })));
  const [composite, setComposite] = useState(() => (channel && channel.compositeMappings) || []);
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [ids] = useState(() => Object.fromEntries(props.map(([n]) => [n, uid("ch-" + n)])));

  const save = async (ev) => {
    ev.preventDefault();
    const body = {};
    const local = {};
    for (const [name, , kind] of props) {
      try {
        const v = fromInput(kind, values[name]);
        const before = channel ? channel[name] : undefined;
        if (channel ? JSON.stringify(v) !== JSON.stringify(before ?? null) : v !== null && v !== "") body[name] = v;
      } catch (ex) { local[name] = ex.message; }
    }
    const mm = Object.fromEntries(mapping.filter((r) => r.from.trim()).map((r) => [r.from.trim(), r.to.trim()]));
    if (!channel || JSON.stringify(mm) !== JSON.stringify(channel.modelMapping || {})) body.modelMapping = mm;
    if (values.serviceType === "composite" || (channel && channel.compositeMappings && channel.compositeMappings.length)) {
      body.compositeMappings = composite;
    }
    if (!channel) body.apiKeys = keys.map((k) => k.trim()).filter(Boolean);
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    setError(null);
    try {
      if (channel) await request("PUT", `${base}/${encodeURIComponent(channel.id)}`, { body, ifMatch: revision });
      else await request("POST", base, { body, ifMatch: revision });
      onSaved();
    } catch (ex) {
      setBusy(false);
      const f = fieldOf(ex.field);
      if (f) setErrors({ [f]: ex.message });
      setError(ex);
    }
  };

  const fieldRow = ([name, prop, kind]) => html`<${Field} id=${ids[name]} label=${labelOf(name)} error=${errors[name]}>
    <${Control} id=${ids[name]} name=${name} prop=${prop} kind=${kind} value=${values[name]} error=${errors[name]}
      onChange=${(v) => setValues({ ...values, [name]: v })} />
  <//>`;
  const main = props.filter(([n]) => MAIN.includes(n));
  const more = props.filter(([n]) => !MAIN.includes(n));
  return html`<${Modal} title=${channel ? `Edit ${channel.name}` : "New channel"} onClose=${onClose} wide>
    <form onSubmit=${save} class="channel-form" novalidate>
      <div class="grid2">${main.map(fieldRow)}</div>
      ${channel ? null : html`<${NewKeys} keys=${keys} setKeys=${setKeys} error=${errors.apiKeys} />`}
      <${MappingEditor} rows=${mapping} setRows=${setMapping} error=${errors.modelMapping} />
      ${values.serviceType === "composite" ? html`<${CompositeEditor} rows=${composite} setRows=${setComposite} error=${errors.compositeMappings} targets=${targets} />` : null}
      <details open=${more.some(([n]) => errors[n])}>
        <summary>More settings</summary>
        <div class="grid2">${more.map(fieldRow)}</div>
      </details>
      <${ErrorNote} error=${error} onReload=${onReload} />
      <div class="actions">
        <button type="submit" class="primary" disabled=${busy}>${channel ? "Save" : "Create channel"}</button>
        <button type="button" onClick=${onClose}>Cancel</button>
      </div>
    </form>
  <//>`;
}
