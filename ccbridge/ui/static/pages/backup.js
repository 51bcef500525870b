// Backups: download the configuration; restore one after a preview.
import { useState } from "../vendor/hooks.js";
import { request } from "../lib/api.js";
import { ErrorNote, html } from "../lib/ui.js";

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
    </section>`;
}
