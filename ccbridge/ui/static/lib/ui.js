// Shared building blocks: html tag, data loading, fields, errors, dialogs.
import { h } from "../vendor/preact.js";
import { useCallback, useEffect, useRef, useState } from "../vendor/hooks.js";
import htm from "../vendor/htm.js";
import { request } from "./api.js";

export const html = htm.bind(h);

// Load `path` (or run `fn`) and keep {data, revision, error, loading, reload}.
export function useLoad(source, deps = []) {
  const [state, setState] = useState({ data: null, revision: null, error: null, loading: true });
  const seq = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const res = typeof source === "string" ? await request("GET", source) : await source();
      if (mine === seq.current) setState({ data: res.data, revision: res.revision, error: null, loading: false });
    } catch (error) {
      if (mine === seq.current) setState((s) => ({ ...s, error, loading: false }));
    }
  }, deps);
  useEffect(() => { reload(); }, [reload]);
  return { ...state, reload };
}

// Call fn every `ms` while the page is visible.
export function useInterval(fn, ms) {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    const id = setInterval(() => { if (!document.hidden) saved.current(); }, ms);
    return () => clearInterval(id);
  }, [ms]);
}

let nextId = 0;
export const uid = (p = "f") => `${p}-${++nextId}`;

// A labelled control with the API's message for it underneath.
export function Field({ label, error, hint, children, id }) {
  const errId = id && `${id}-err`;
  return html`<div class=${"field" + (error ? " invalid" : "")}>
    <label for=${id}>${label}</label>
    ${children}
    ${hint && !error ? html`<small class="hint">${hint}</small>` : null}
    ${error ? html`<small class="field-error" id=${errId} role="alert">${error}</small>` : null}
  </div>`;
}

// An error from a write or a load; a lost race offers to reload.
export function ErrorNote({ error, onReload }) {
  if (!error) return null;
  if (error.conflict) {
    return html`<div class="note conflict" role="alert">
      <strong>Someone else changed the configuration</strong> after this page loaded it, so nothing was saved.
      ${onReload ? html` <button type="button" onClick=${onReload}>Reload</button>` : null}
    </div>`;
  }
  return html`<div class="note error" role="alert">${error.message}${error.code ? html` <code>${error.code}</code>` : null}</div>`;
}

export function Modal({ title, onClose, children, wide }) {
  const ref = useRef(null);
  useEffect(() => {
    const el = ref.current;
    const before = document.activeElement;
    const first = el && el.querySelector("input, select, textarea, button:not(.close)");
    if (first) first.focus();
    // Keep Tab inside the dialog; Escape closes it; focus goes back on close.
    const onKey = (ev) => {
      if (ev.key === "Escape") onClose();
      if (ev.key !== "Tab" || !el) return;
      const all = [...el.querySelectorAll("input, select, textarea, button, a[href], summary, [tabindex='0']")].filter((x) => !x.disabled);
      if (!all.length) return;
      const [head, tail] = [all[0], all[all.length - 1]];
      if (ev.shiftKey && document.activeElement === head) { ev.preventDefault(); tail.focus(); }
      else if (!ev.shiftKey && document.activeElement === tail) { ev.preventDefault(); head.focus(); }
    };
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("keydown", onKey);
      if (before && before.focus) before.focus();
    };
  }, []);
  return html`<div class="overlay">
    <div class=${"modal" + (wide ? " wide" : "")} role="dialog" aria-modal="true" aria-label=${title} ref=${ref}>
      <header><h2>${title}</h2><button type="button" class="close" aria-label="Close" onClick=${onClose}>×</button></header>
      ${children}
    </div>
  </div>`;
}

// Ask before a destructive action; resolves the click to onYes.
export function Confirm({ title, message, yes = "Confirm", onYes, onClose }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const go = async () => {
    setBusy(true);
    try { await onYes(); onClose(); } catch (ex) { setError(ex); setBusy(false); }
  };
  return html`<${Modal} title=${title} onClose=${onClose}>
    <p>${message}</p>
    <${ErrorNote} error=${error} />
    <div class="actions">
      <button type="button" class="danger" disabled=${busy} onClick=${go}>${yes}</button>
      <button type="button" onClick=${onClose}>Cancel</button>
    </div>
  <//>`;
}

export const fmtInt = (n) => (n == null ? "–" : Number(n).toLocaleString("en-US"));
export const fmtCost = (n) => (n == null ? "–" : "$" + Number(n).toFixed(n >= 100 ? 0 : n >= 1 || n === 0 ? 2 : 4));
export const fmtMs = (n) => (n == null ? "–" : n >= 1000 ? (n / 1000).toFixed(1) + " s" : Math.round(n) + " ms");
export function fmtTime(s) {
  if (!s) return "–";
  const d = new Date(s);
  return isNaN(d) ? String(s) : d.toLocaleString("en-GB", { hour12: false });
}
export const plural = (n, one, many = one + "s") => `${fmtInt(n)} ${n === 1 ? one : many}`;

export function Loading({ state }) {
  if (state.error && !state.data) return html`<${ErrorNote} error=${state.error} onReload=${state.reload} />`;
  if (state.loading && !state.data) return html`<p class="muted" aria-busy="true">Loading…</p>`;
  return null;
}
