// Read request-body schemas from the OpenAPI document fetched at sign-in.
// The document is OpenAPI 3.1: bodies are `$ref`s to components, and an
// optional field is `anyOf: [X, {type: "null"}]`; both are resolved here so
// forms see plain properties.
import { openapi } from "./api.js";

const PREFIX = "#/components/schemas/";

function resolve(schema) {
  let s = schema || {};
  for (let hops = 0; s.$ref && hops < 10; hops++) {
    const name = s.$ref.startsWith(PREFIX) ? s.$ref.slice(PREFIX.length) : null;
    const target = name && openapi.doc.components && openapi.doc.components.schemas[name];
    const { $ref, ...rest } = s;
    s = { ...(target || {}), ...rest };
  }
  return s;
}

// A nullable field: the non-null branch, keeping the field's own description.
function plain(prop) {
  const p = resolve(prop);
  if (!p.anyOf) return p;
  const branches = p.anyOf.filter((b) => b.type !== "null");
  if (branches.length !== 1) return p;
  const { anyOf, ...rest } = p;
  return { ...resolve(branches[0]), ...rest };
}

export function bodySchema(path, method) {
  const op = openapi.doc && openapi.doc.paths[path] && openapi.doc.paths[path][method];
  const body = op && op.requestBody && op.requestBody.content["application/json"];
  const schema = body ? resolve(body.schema) : {};
  const props = Object.entries(schema.properties || {}).map(([name, prop]) => [name, plain(prop)]);
  return { ...schema, properties: Object.fromEntries(props) };
}

export function kindOf(prop) {
  const types = [].concat(prop.type || []);
  if (prop.enum) return "enum";
  if (types.includes("boolean")) return "boolean";
  if (types.includes("integer")) return "integer";
  if (types.includes("number")) return "number";
  if (types.includes("array") && prop.items && prop.items.type === "string") return "list";
  if (types.includes("object") || types.includes("array")) return "json";
  if (types.includes("string")) return prop.format === "date-time" ? "datetime" : "string";
  return null; // read-only members of a view, not input
}

// camelCase -> "Camel case" label.
export function labelOf(name) {
  const words = name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1).replace(/\burl\b/g, "URL").replace(/\brpm\b/g, "RPM");
}

// The field an API error names, without an item index: "compositeMappings[0]" -> "compositeMappings".
export const fieldOf = (field) => (field ? String(field).split(/[[.]/)[0] : null);
