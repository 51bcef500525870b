// The admin API client. The key lives in sessionStorage (gone when the tab
// closes) and travels only in the x-api-key header, never in a URL.
const STORE = "ccbridge.adminKey";

export const auth = {
  get key() { return sessionStorage.getItem(STORE); },
  set(key) { sessionStorage.setItem(STORE, key); },
  clear() { sessionStorage.removeItem(STORE); },
};

// The OpenAPI document, read at sign-in: forms take their field lists from it.
export const openapi = { doc: null };

const listeners = new Set();
// Called with no argument when the server answers 401 (key revoked or wrong).
export function onSignedOut(fn) { listeners.add(fn); return () => listeners.delete(fn); }

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.field = this.body.field || null;
    this.code = this.body.code || "";
  }
  // A write based on a revision someone else has since replaced.
  get conflict() { return this.status === 409 || this.status === 412; }
}

function revisionOf(resp) {
  const tag = resp.headers.get("ETag");
  const m = tag && /"?(\d+)"?$/.exec(tag);
  return m ? Number(m[1]) : null;
}

// request(method, path, {body, ifMatch, signal}) -> {data, revision}
export async function request(method, path, opts = {}) {
  const headers = { "x-api-key": auth.key || "" };
  const init = { method, headers, signal: opts.signal, cache: "no-store" };
  if (opts.body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(opts.body);
  }
  if (opts.ifMatch != null) headers["If-Match"] = `"${opts.ifMatch}"`;
  const resp = await fetch(path, init);
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (resp.status === 401 && opts.signIn !== true) listeners.forEach((fn) => fn());
  if (!resp.ok) throw new ApiError(resp.status, data);
  return { data, revision: revisionOf(resp) };
}

export const get = async (path, opts) => (await request("GET", path, opts)).data;

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v != null) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

// Read a Server-Sent Events stream with fetch (EventSource cannot send a header).
// Calls onEvent(type, data) until signal aborts; reconnects after a drop.
export async function stream(path, onEvent, signal, onState = () => {}) {
  while (!signal.aborted) {
    try {
      const resp = await fetch(path, { headers: { "x-api-key": auth.key || "" }, signal });
      if (!resp.ok) throw new ApiError(resp.status, null);
      onState("live");
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          let type = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) type = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          if (data) onEvent(type, JSON.parse(data));
        }
      }
    } catch (ex) {
      if (signal.aborted) return;
      if (ex instanceof ApiError && ex.status === 401) { onState("off"); return; }
    }
    onState("reconnecting");
    await new Promise((r) => setTimeout(r, 2000));
  }
}
