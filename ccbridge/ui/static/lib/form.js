// A form for a JSON value described by a request-body schema of the OpenAPI document:
// objects as groups of fields, arrays of objects as rows (add, remove, move), lists of
// strings one per line, enums as selects. Each control's path ("rules[0].actionChain[1].action")
// is the one the API names in its errors, so a message lands beside its field.
import { useState } from "../vendor/hooks.js";
import { labelOf, plain as resolve } from "./schema.js";
import { html } from "./ui.js";

const typesOf = (s) => [].concat(s.type || []).filter((t) => t !== "null");

// What control a schema gets.
export function shapeOf(schema) {
  const s = resolve(schema);
  const types = typesOf(s);
  if (s.enum) return "enum";
  if (types.includes("boolean")) return "boolean";
  if (types.includes("integer") || types.includes("number")) return "number";
  if (types.includes("object") && s.properties) return "object";
  if (types.includes("array")) {
    const item = resolve(s.items || {});
    if (item.properties) return "rows";
    if (typesOf(item).includes("string") && !item.enum) return "lines";
  }
  if (types.includes("string")) return "string";
  return "json";
}

// A new item of an array of objects: its required members filled in.
function blank(schema) {
  const s = resolve(schema);
  const out = {};
  for (const name of s.required || []) {
    const prop = resolve(s.properties[name]);
    const shape = shapeOf(prop);
    out[name] = shape === "enum" ? prop.enum[0] : shape === "number" ? (prop.minimum ?? 0)
      : shape === "boolean" ? false : shape === "rows" || shape === "lines" ? [] : "";
  }
  return out;
}

const idOf = (prefix, path) => `${prefix}-${path}`.replace(/[^A-Za-z0-9_-]+/g, "-");
const singular = (label) => label.replace(/ies$/, "y").replace(/s$/, "");

function withMember(obj, name, v) {
  const next = { ...obj };
  if (v === undefined) delete next[name];
  else next[name] = v;
  return next;
}

function FieldError({ id, error }) {
  return error ? html`<small class="field-error" id=${id + "-err"} role="alert">${error}</small>` : null;
}

// Keeps the text being typed; reports the parsed list (one string per line).
function Lines({ id, label, value, onChange, error }) {
  const [text, setText] = useState((value || []).join("\n"));
  return html`<div class=${"field" + (error ? " invalid" : "")}>
    <label for=${id}>${label} (one per line)</label>
    <textarea id=${id} class="mono" rows="4" value=${text}
      onInput=${(e) => { setText(e.target.value); onChange(e.target.value.split("\n").map((x) => x.trim()).filter(Boolean)); }} />
    <${FieldError} id=${id} error=${error} />
  </div>`;
}

// Keeps the JSON being typed; reports the value once it parses.
function Json({ id, label, value, onChange, error }) {
  const [text, setText] = useState(JSON.stringify(value ?? null, null, 2));
  const [bad, setBad] = useState(null);
  const edit = (t) => {
    setText(t);
    try { onChange(JSON.parse(t)); setBad(null); } catch (ex) { setBad("not valid JSON yet"); }
  };
  return html`<div class=${"field" + (error || bad ? " invalid" : "")}>
    <label for=${id}>${label} (JSON)</label>
    <textarea id=${id} class="mono" rows="4" value=${text} onInput=${(e) => edit(e.target.value)} />
    <${FieldError} id=${id} error=${error || bad} />
  </div>`;
}

function Rows({ name, schema, value, onChange, path, ctx }) {
  const items = value || [];
  const label = labelOf(name);
  const one = singular(label);
  const item = resolve(schema.items);
  // Rows keep typed text (lines, JSON): a new generation after a move or removal redraws them.
  const [gen, setGen] = useState(0);
  const put = (i, v) => onChange(items.map((x, j) => (j === i ? v : x)));
  const move = (i, d) => {
    const next = [...items];
    [next[i], next[i + d]] = [next[i + d], next[i]];
    setGen(gen + 1);
    onChange(next);
  };
  const remove = (i) => { setGen(gen + 1); onChange(items.filter((_, j) => j !== i)); };
  return html`<fieldset class="rows">
    <legend>${label}</legend>
    ${items.length ? null : html`<p class="muted">None.</p>`}
    ${items.map((x, i) => html`<fieldset class="row-item" key=${`${gen}-${i}`}>
      <legend>${one} ${i + 1}</legend>
      <div class="row-body"><${Members} schema=${item} value=${x} onChange=${(v) => put(i, v)} path=${`${path}[${i}]`} ctx=${ctx} /></div>
      <div class="row-buttons">
        <button type="button" aria-label=${`Move ${one.toLowerCase()} ${i + 1} up`} disabled=${i === 0} onClick=${() => move(i, -1)}>↑</button>
        <button type="button" aria-label=${`Move ${one.toLowerCase()} ${i + 1} down`} disabled=${i === items.length - 1} onClick=${() => move(i, 1)}>↓</button>
        <button type="button" aria-label=${`Remove ${one.toLowerCase()} ${i + 1}`} onClick=${() => remove(i)}>Remove</button>
      </div>
    </fieldset>`)}
    ${schema.maxItems != null && items.length >= schema.maxItems ? null
      : html`<button type="button" onClick=${() => onChange([...items, blank(item)])}>Add ${one.toLowerCase()}</button>`}
    <${FieldError} id=${idOf(ctx.prefix, path)} error=${ctx.errors[path]} />
  </fieldset>`;
}

// One member of an object: the control its schema calls for.
function Member({ name, schema, value, onChange, path, ctx }) {
  const prop = resolve(schema);
  const shape = shapeOf(prop);
  const id = idOf(ctx.prefix, path);
  const label = labelOf(name);
  const error = ctx.errors[path];
  if (shape === "object") {
    return html`<fieldset class="group"><legend>${label}</legend>
      <${Members} schema=${prop} value=${value || {}} onChange=${onChange} path=${path} ctx=${ctx} />
      <${FieldError} id=${id} error=${error} />
    </fieldset>`;
  }
  if (shape === "rows") return html`<${Rows} name=${name} schema=${prop} value=${value} onChange=${onChange} path=${path} ctx=${ctx} />`;
  if (shape === "lines") return html`<${Lines} id=${id} label=${label} value=${value} onChange=${onChange} error=${error} />`;
  if (shape === "json") return html`<${Json} id=${id} label=${label} value=${value} onChange=${onChange} error=${error} />`;
  if (shape === "boolean") {
    return html`<div class=${"field check" + (error ? " invalid" : "")}>
      <label><input id=${id} type="checkbox" checked=${!!value} onChange=${(e) => onChange(e.target.checked)} /> ${label}</label>
      <${FieldError} id=${id} error=${error} />
    </div>`;
  }
  let control;
  if (shape === "enum") {
    control = html`<select id=${id} value=${value ?? ""} onChange=${(e) => onChange(e.target.value || undefined)}>
      ${value == null ? html`<option value="">–</option>` : null}
      ${prop.enum.map((v) => html`<option value=${v}>${v}</option>`)}
    </select>`;
  } else if (shape === "number") {
    // A number while it parses; the text otherwise, for the API to name.
    const parse = (t) => (t === "" ? undefined : Number.isNaN(Number(t)) ? t : Number(t));
    control = html`<input id=${id} type="number" class="num" min=${prop.minimum} max=${prop.maximum}
      step=${typesOf(prop).includes("integer") ? 1 : "any"} value=${value ?? ""} onInput=${(e) => onChange(parse(e.target.value))} />`;
  } else {
    control = html`<input id=${id} type="text" value=${value ?? ""} onInput=${(e) => onChange(e.target.value === "" ? undefined : e.target.value)} />`;
  }
  return html`<div class=${"field" + (error ? " invalid" : "")}>
    <label for=${id}>${label}</label>
    ${control}
    <${FieldError} id=${id} error=${error} />
  </div>`;
}

function Members({ schema, value, onChange, path, ctx }) {
  const s = resolve(schema);
  const entries = Object.entries(s.properties || {});
  const simple = entries.filter(([, p]) => !["object", "rows"].includes(shapeOf(p)));
  const nested = entries.filter(([, p]) => ["object", "rows"].includes(shapeOf(p)));
  const member = ([name, prop]) => html`<${Member} key=${name} name=${name} schema=${prop} value=${value[name]}
    path=${path ? `${path}.${name}` : name} ctx=${ctx} onChange=${(v) => onChange(withMember(value, name, v))} />`;
  return html`${simple.length ? html`<div class="grid-fields">${simple.map(member)}</div>` : null}${nested.map(member)}`;
}

// The whole form body for `value` (an object); errors maps API field paths to messages.
export function SchemaFields({ schema, value, onChange, errors = {}, prefix = "sf" }) {
  return html`<${Members} schema=${schema} value=${value || {}} onChange=${onChange} path="" ctx=${{ errors, prefix }} />`;
}
