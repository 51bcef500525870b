// The UI shell: sign-in, navigation and hash routes (#/page).
import { render } from "./vendor/preact.js";
import { useEffect, useState } from "./vendor/hooks.js";
import { auth, onSignedOut, openapi as api, request } from "./lib/api.js";
import { ErrorNote, html } from "./lib/ui.js";
import { Dashboard } from "./pages/dashboard.js";
import { Channels } from "./pages/channels.js";
import { Keys } from "./pages/keys.js";
import { Logs } from "./pages/logs.js";
import { Settings } from "./pages/settings.js";
import { Backup } from "./pages/backup.js";
import { History } from "./pages/history.js";

const PAGES = [
  ["dashboard", "Dashboard", Dashboard],
  ["channels", "Channels", Channels],
  ["keys", "Client keys", Keys],
  ["logs", "Request logs", Logs],
  ["settings", "Settings", Settings],
  ["history", "History", History],
  ["backup", "Backup", Backup],
];

function route() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  return { name: PAGES.some((p) => p[0] === name) ? name : "dashboard", rest };
}

function SignIn({ onDone }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const id = "signin-key";
  const submit = async (ev) => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    auth.set(key.trim());
    try {
      api.doc = (await request("GET", "/api/openapi.json", { signIn: true })).data;
      onDone();
    } catch (ex) {
      auth.clear();
      setError(ex.status === 401 ? new Error("That key was not accepted.") : ex.status === 403 ? new Error("That key is not an admin key.") : ex);
      setBusy(false);
    }
  };
  return html`<main class="signin">
    <form onSubmit=${submit} aria-labelledby="signin-title">
      <h1 id="signin-title">ccbridge</h1>
      <p class="muted">Sign in with the master key or an admin client key.</p>
      <div class="field">
        <label for=${id}>Admin key</label>
        <input id=${id} type="password" autocomplete="current-password" required value=${key}
          onInput=${(e) => setKey(e.target.value)} />
      </div>
      <${ErrorNote} error=${error} />
      <button type="submit" class="primary" disabled=${busy || !key.trim()}>Sign in</button>
      <p class="hint">The key is kept in this tab only (sessionStorage) and sent in a header.</p>
    </form>
  </main>`;
}

function Shell({ onSignOut }) {
  const [where, setWhere] = useState(route());
  useEffect(() => {
    const on = () => setWhere(route());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  const page = PAGES.find((p) => p[0] === where.name);
  const Page = page[2];
  useEffect(() => { document.title = `${page[1]} · ccbridge`; }, [page]);
  return html`<div class="shell">
    <nav aria-label="Main">
      <span class="brand">ccbridge</span>
      <ul>
        ${PAGES.map(([name, label]) => html`<li>
          <a href=${"#/" + name} aria-current=${name === where.name ? "page" : null}>${label}</a>
        </li>`)}
      </ul>
      <button type="button" class="signout" onClick=${onSignOut}>Sign out</button>
    </nav>
    <main id="main"><${Page} key=${[where.name, ...where.rest].join("/")} rest=${where.rest} /></main>
  </div>`;
}

function App() {
  const [state, setState] = useState(auth.key ? "checking" : "out");
  useEffect(() => onSignedOut(() => { auth.clear(); setState("out"); }), []);
  useEffect(() => {
    if (state !== "checking") return;
    request("GET", "/api/openapi.json", { signIn: true })
      .then((res) => { api.doc = res.data; setState("in"); })
      .catch(() => { auth.clear(); setState("out"); });
  }, [state]);
  const signOut = () => { auth.clear(); api.doc = null; setState("out"); };
  if (state === "checking") return html`<p class="muted" aria-busy="true">Loading…</p>`;
  if (state === "out") return html`<${SignIn} onDone=${() => setState("in")} />`;
  return html`<${Shell} onSignOut=${signOut} />`;
}

render(html`<${App} />`, document.getElementById("app"));
