// Backups: download the configuration; restore one after a preview; the
// server-side backups every instance shares (made, restored, deleted by name).
import { useState } from "../vendor/hooks.js";
import { request } from "../lib/api.js";
import { Confirm, ErrorNote, Loading, Modal, fmtInt, fmtTime, html, useLoad } from "../lib/ui.js";

const ref = (c) => `${c.name} (${c.pool}, ${c.id})`;

function Preview({ p }) {
  const ch = p.channels;
  const settings = p.settings.filter((s) => s.changed).map((s) => s.key);
  const list = (title, items, cls) => items.length ? html`<h4>${title}</h4><ul class=${cls}>${items.map((i) => html`<li>${i}</li>`)}</ul>` : null;
  const nothing = !ch.added.length && !ch.removed.length && !ch.changed.length && !settings.length
    && !(p.pricing && (p.pricing.added.length || p.pricing.removed.length || p.pricing.changed.length))
    && !p.modelAliasesChanged && !p.userAliasesChanged && !p.clientKeys;
  return html`<section class="preview" aria-label="Restore preview">
    <h3>What the restore would change</h3>
    ${(p.emptiedPools || []).length ? html`<p class="note warn" role="alert">The ${p.emptiedPools.join(", ")} pool(s) would be left without any channel.</p>` : null}
    ${nothing ? html`<p>Nothing: the backup matches the current configuration.</p>` : null}
    ${list("Channels added", ch.added.map(ref), "added")}
    ${list("Channels removed", ch.removed.map(ref), "removed")}
    ${list("Channels changed", ch.changed.map((c) => `${ref(c)}: ${c.fields.join(", ")}`), "changed")}
    <p class="muted">${ch.unchanged} channel(s) unchanged.</p>
    ${list("Settings changed", settings, "changed")}
    ${p.pricing ? html`${list("Prices added", p.pricing.added, "added")}${list("Prices removed", p.pricing.removed, "removed")}${list("Prices changed", p.pricing.changed, "changed")}` : html`<p class="muted">Prices are not in the backup and stay as they are.</p>`}
    ${p.modelAliasesChanged ? html`<p>Model aliases are replaced.</p>` : null}
    ${p.userAliasesChanged ? html`<p>User aliases are replaced.</p>` : null}
    ${p.clientKeys ? html`<p>Client keys: ${p.clientKeys.added} added, ${p.clientKeys.removed} removed, ${p.clientKeys.kept} kept.</p>` : html`<p class="muted">Client keys are not in the backup and stay as they are.</p>`}
  </section>`;
}

const REASONS = { manual: "manual", before_restore: "before a restore", before_rollback: "before a rollback" };
const path = (name) => `/api/config/backups/${encodeURIComponent(name)}`;

// Restoring a stored backup: its document goes through the same preview first.
function RestoreStored({ name, onDone, onClose }) {
  const preview = useLoad(async () => {
    const doc = (await request("GET", path(name))).data;
    return request("POST", "/api/config/restore/preview", { body: doc });
  }, [name]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const go = async () => {
    setBusy(true);
    setError(null);
    try {
      const res = await request("POST", `/api/config/restore/${encodeURIComponent(name)}`, { ifMatch: preview.revision });
      onDone(res.data);
    } catch (ex) { setError(ex); setBusy(false); }
  };
  return html`<${Modal} title=${`Restore ${name}`} onClose=${onClose} wide>
    <${Loading} state=${preview} />
    ${preview.data ? html`<${Preview} p=${preview.data} />` : null}
    <${ErrorNote} error=${error} onReload=${() => { setError(null); setBusy(false); preview.reload(); }} />
    <div class="actions">
      <button type="button" class="danger" disabled=${busy || !preview.data} onClick=${go}>Restore this backup</button>
      <button type="button" onClick=${onClose}>Cancel</button>
    </div>
  <//>`;
}

function ServerBackups() {
  const list = useLoad("/api/config/backups");
  const [name, setName] = useState("");
  const [dialog, setDialog] = useState(null);
  const [error, setError] = useState(null);
  const [done, setDone] = useState("");
  const create = async (ev) => {
    ev.preventDefault();
    setError(null); setDone("");
    try {
      const res = await request("POST", "/api/config/backups", { body: name.trim() ? { name: name.trim() } : {} });
      setDone(`Stored ${res.data.filename}.`);
      setName("");
      await list.reload();
    } catch (ex) { setError(ex); }
  };
  const close = () => setDialog(null);
  const backups = list.data ? list.data.backups : [];
  return html`<section><h2>Stored on the server</h2>
    <p class="muted">Kept in the database, so every instance sees the same ones. Channel keys are in clear inside; client keys are not.</p>
    <form class="toolbar" onSubmit=${create}>
      <label for="backup-name">Backup name (optional)</label>
      <input id="backup-name" value=${name} placeholder="manual_backup_…" onInput=${(e) => setName(e.target.value)} />
      <button type="submit" class="primary">Create server backup</button>
    </form>
    <${ErrorNote} error=${error} />
    ${done ? html`<p class="note ok" role="status">${done}</p>` : null}
    <${Loading} state=${list} />
    ${list.data ? (backups.length ? html`<table class="server-backups">
      <thead><tr><th>Name</th><th>Created</th><th>By</th><th>Reason</th><th>Revision</th><th>Size</th><th>Actions</th></tr></thead>
      <tbody>${backups.map((b) => html`<tr>
        <td><code>${b.filename}</code></td>
        <td>${fmtTime(b.createdAt)}</td>
        <td>${b.createdBy}</td>
        <td>${REASONS[b.reason] || b.reason}</td>
        <td>${b.revision}</td>
        <td>${b.size < 1024 ? `${b.size} B` : `${fmtInt(Math.ceil(b.size / 1024))} KB`}</td>
        <td class="row-actions">
          <button type="button" onClick=${() => setDialog({ kind: "restore", name: b.filename })} aria-label=${`Restore ${b.filename}`}>Restore…</button>
          <button type="button" class="danger" onClick=${() => setDialog({ kind: "delete", name: b.filename })} aria-label=${`Delete ${b.filename}`}>Delete</button>
        </td>
      </tr>`)}</tbody></table>` : html`<p class="empty">No server-side backups yet.</p>`) : null}
    ${dialog && dialog.kind === "restore" ? html`<${RestoreStored} name=${dialog.name} onClose=${close}
      onDone=${(r) => { close(); setDone(`Restored ${r.filename}: ${r.channels} channel(s); the replaced configuration is saved as ${r.backup}.`); list.reload(); }} />` : null}
    ${dialog && dialog.kind === "delete" ? html`<${Confirm} title="Delete backup" yes="Delete"
      message=${`Delete the server-side backup ${dialog.name}? This cannot be undone.`}
      onYes=${async () => { await request("DELETE", path(dialog.name)); setDone(`Deleted ${dialog.name}.`); await list.reload(); }} onClose=${close} />` : null}
  </section>`;
}

export function Backup() {
  const [withKeys, setWithKeys] = useState(false);
  const [doc, setDoc] = useState(null);
  const [name, setName] = useState("");
  const [preview, setPreview] = useState(null);
  const [error, setError] = useState(null);
  const [done, setDone] = useState("");
  const [allowEmpty, setAllowEmpty] = useState(false);
  const empties = preview && (preview.changes.emptiedPools || []).length > 0;

  const download = async () => {
    setError(null);
    try {
      const { data } = await request("GET", `/api/config/backup?includeKeys=${withKeys}`);
      const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = `ccbridge-backup-${data.createdAt.replace(/[:.]/g, "-")}.json`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    } catch (ex) { setError(ex); }
  };
  const choose = async (ev) => {
    const file = ev.target.files[0];
    setPreview(null); setError(null); setDone(""); setDoc(null); setAllowEmpty(false);
    if (!file) return;
    setName(file.name);
    try {
      const parsed = JSON.parse(await file.text());
      const res = await request("POST", "/api/config/restore/preview", { body: parsed });
      setDoc(parsed);
      setPreview({ changes: res.data, revision: res.revision });
    } catch (ex) { setError(ex instanceof SyntaxError ? new Error(`${file.name} is not JSON: ${ex.message}`) : ex); }
  };
  const restore = async () => {
    setError(null);
    try {
      const body = empties && allowEmpty ? { ...doc, allowEmptyPools: true } : doc;
      const res = await request("POST", "/api/config/restore", { body, ifMatch: preview.revision });
      setDone(`Restored ${name}: ${res.data.channels} channel(s).`);
      setPreview(null); setDoc(null);
    } catch (ex) { setError(ex); }
  };
  const again = async () => {
    setError(null);
    try { const res = await request("POST", "/api/config/restore/preview", { body: doc }); setPreview({ changes: res.data, revision: res.revision }); }
    catch (ex) { setError(ex); }
  };
  return html`<h1>Backup and restore</h1>
    <section><h2>Download</h2>
      <div class="toolbar">
        <label><input type="checkbox" checked=${withKeys} onChange=${(e) => setWithKeys(e.target.checked)} /> Include channel keys in clear and client key hashes</label>
        <button type="button" class="primary" onClick=${download}>Download backup</button>
      </div>
      ${withKeys ? html`<p class="note warn">A backup with keys holds every upstream secret in clear: store it like a password.</p>` : null}
    </section>
    <section><h2>Restore</h2>
      <div class="field"><label for="restore-file">Backup file (JSON)</label>
        <input id="restore-file" type="file" accept="application/json,.json" onChange=${choose} /></div>
      <${ErrorNote} error=${error} onReload=${again} />
      ${preview ? html`<${Preview} p=${preview.changes} />
        ${empties ? html`<label><input type="checkbox" checked=${allowEmpty} onChange=${(e) => setAllowEmpty(e.target.checked)} /> Leave those pools without channels</label>` : null}
        <div class="actions"><button type="button" class="danger" onClick=${restore}>Restore this backup</button>
        <button type="button" onClick=${() => { setPreview(null); setDoc(null); }}>Cancel</button></div>` : null}
      ${done ? html`<p class="note ok" role="status">${done}</p>` : null}
    </section>
    <${ServerBackups} />`;
}
