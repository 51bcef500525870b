// Config history: who changed what and when, the diff between two revisions,
// and rollback to one (revision-checked like every write).
import { useState } from "../vendor/hooks.js";
import { request } from "../lib/api.js";
import { ErrorNote, Loading, Modal, fmtTime, html, plural, useLoad } from "../lib/ui.js";

const PAGE = 20;
const SECTIONS = {
  channels: "Channel", settings: "Setting", pricing: "Price", modelAliases: "Model aliases",
  userAliases: "User alias", clientKeys: "Client key",
};
// An item with more fields than this (a whole channel) shows them folded.
const FOLD = 6;

const show = (v) => (v == null ? "–" : typeof v === "object" ? JSON.stringify(v) : String(v));

function Fields({ value }) {
  const rows = Object.entries(value);
  const dl = html`<dl>${rows.map(([k, v]) => html`<dt>${k}</dt><dd>${show(v)}</dd>`)}</dl>`;
  return rows.length > FOLD ? html`<details><summary>${plural(rows.length, "field")}</summary>${dl}</details>` : dl;
}

// One change: what it is (section, name), what happened, and each field old → new.
export function Changes({ changes }) {
  if (!changes.length) return html`<p class="muted">No change.</p>`;
  return html`<ul class="diff">${changes.map((c) => html`<li>
    <span class=${"op " + c.op}>${c.op}</span>
    ${SECTIONS[c.section] || c.section} <code>${c.name && c.name !== c.id ? `${c.name} (${c.id})` : c.id}</code>
    ${c.fields ? html`<dl>${Object.entries(c.fields).map(([k, f]) => html`<dt>${k}</dt>
      <dd><del>${show(f.old)}</del> → <ins>${show(f.new)}</ins></dd>`)}</dl>` : null}
    ${c.value ? html`<${Fields} value=${c.value} />` : null}
  </li>`)}</ul>`;
}

function Compare({ items }) {
  const [from, setFrom] = useState(items.length > 1 ? String(items[items.length - 1].revision) : "");
  const [to, setTo] = useState(items.length ? String(items[0].revision) : "");
  const [diff, setDiff] = useState(null);
  const [error, setError] = useState(null);
  const go = async (ev) => {
    ev.preventDefault();
    setError(null);
    try { setDiff((await request("GET", `/api/config/history/diff?from=${from}&to=${to}`)).data); }
    catch (ex) { setError(ex); setDiff(null); }
  };
  const pick = (id, label, value, set) => html`<label for=${id}>${label}</label>
    <select id=${id} value=${value} onChange=${(e) => set(e.target.value)}>
      ${items.map((i) => html`<option value=${i.revision}>${i.revision} · ${fmtTime(i.createdAt)}</option>`)}
    </select>`;
  return html`<section aria-label="Compare revisions"><h2>Compare two revisions</h2>
    <form class="toolbar" onSubmit=${go}>
      ${pick("diff-from", "From revision", from, setFrom)}
      ${pick("diff-to", "To revision", to, setTo)}
      <button type="submit">Compare</button>
    </form>
    <${ErrorNote} error=${error} />
    ${diff ? html`<div class="diff-result" role="region" aria-label="Difference">
      <h3>From revision ${diff.from} to ${diff.to}</h3><${Changes} changes=${diff.changes} /></div>` : null}
  </section>`;
}

// Rollback asks first; a lost race (409) says so and offers to reload the list.
function Rollback({ item, revision, onDone, onReload, onClose }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const go = async () => {
    setBusy(true);
    setError(null);
    try { onDone((await request("POST", `/api/config/rollback/${item.revision}`, { ifMatch: revision })).data); }
    catch (ex) { setError(ex); setBusy(false); }
  };
  return html`<${Modal} title=${`Roll back to revision ${item.revision}`} onClose=${onClose}>
    <p>Write the configuration as it was after revision ${item.revision} (${fmtTime(item.createdAt)}) back as a new revision?
      Channels, settings, prices and aliases go back; client keys do not. A server-side backup of the current configuration is taken first.</p>
    <${ErrorNote} error=${error} onReload=${() => { onClose(); onReload(); }} />
    <div class="actions">
      <button type="button" class="danger" disabled=${busy} onClick=${go}>Roll back</button>
      <button type="button" onClick=${onClose}>Cancel</button>
    </div>
  <//>`;
}

function RolledBack({ r }) {
  return html`<p class="note ok" role="status">${r.message}: now revision ${r.revision}; the replaced configuration is saved as backup <code>${r.backup}</code>.
    ${r.keptKeys.length ? ` Kept current keys: ${r.keptKeys.join(", ")}.` : ""}
    ${r.disabledChannels.length ? ` Back disabled and without keys: ${r.disabledChannels.join(", ")}.` : ""}</p>`;
}

export function History() {
  const [offset, setOffset] = useState(0);
  const state = useLoad(`/api/config/history?limit=${PAGE}&offset=${offset}`, [offset]);
  const [dialog, setDialog] = useState(null);
  const [done, setDone] = useState(null);
  const d = state.data;
  return html`<h1>History</h1>
    <${Loading} state=${state} />
    ${done ? html`<${RolledBack} r=${done} />` : null}
    ${d ? html`
      <p class="muted">${plural(d.total, "revision")} kept; showing ${d.items.length ? `${d.offset + 1}–${d.offset + d.items.length}` : "none"}.</p>
      <div class="toolbar">
        <button type="button" disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - PAGE))}>Newer</button>
        <button type="button" disabled=${offset + PAGE >= d.total} onClick=${() => setOffset(offset + PAGE)}>Older</button>
      </div>
      ${d.items.length ? html`<table class="history"><thead><tr><th>Revision</th><th>When</th><th>By</th><th>What changed</th><th>Actions</th></tr></thead>
        <tbody>${d.items.map((i, n) => html`<tr>
          <td>${i.revision}</td>
          <td>${fmtTime(i.createdAt)}</td>
          <td>${i.actor.name}<br /><small class="muted">${i.action}</small></td>
          <td><${Changes} changes=${i.changes} /></td>
          <td>${offset === 0 && n === 0 ? html`<span class="muted">current</span>`
            : html`<button type="button" onClick=${() => setDialog(i)}>Roll back to ${i.revision}</button>`}</td>
        </tr>`)}</tbody></table>` : html`<p class="empty">No revision recorded yet: the history starts with the next change.</p>`}
      ${d.items.length > 1 ? html`<${Compare} key=${d.offset + ":" + d.items[0].revision} items=${d.items} />` : null}` : null}
    ${dialog ? html`<${Rollback} item=${dialog} revision=${state.revision} onClose=${() => setDialog(null)} onReload=${state.reload}
      onDone=${(r) => { setDialog(null); setDone(r); setOffset(0); state.reload(); }} />` : null}`;
}
