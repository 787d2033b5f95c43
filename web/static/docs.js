// The API reference, rendered from /openapi.json (served offline: no CDN, no bundle).
"use strict";

function node(tag, text, cls) {
  const el = document.createElement(tag);
  if (text !== undefined) el.textContent = text;
  if (cls) el.className = cls;
  return el;
}

function typeOf(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.anyOf) return schema.anyOf.map(typeOf).join(" | ");
  if (schema.enum) return schema.enum.join(" | ");
  if (schema.type === "array") return `${typeOf(schema.items)}[]`;
  return schema.type || "";
}

async function render() {
  const spec = await (await fetch("/openapi.json")).json();
  const root = document.getElementById("doc");
  const intro = node("div", undefined, "card");
  intro.append(node("h2", `${spec.info.title} ${spec.info.version}`),
               node("p", spec.info.description || "", "muted"));
  root.append(intro);
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const card = node("div", undefined, "card");
      card.append(node("h2", `${method.toUpperCase()} ${path}`),
                  node("p", op.description || op.summary || ""));
      const params = op.parameters || [];
      if (params.length) {
        const table = node("table");
        const head = node("tr");
        for (const c of ["parameter", "in", "type", "required", "description"]) head.append(node("th", c));
        table.append(head);
        for (const p of params) {
          const row = node("tr");
          for (const v of [p.name, p.in, typeOf(p.schema), p.required ? "yes" : "",
                           p.description || (p.schema && p.schema.description) || ""]) {
            row.append(node("td", v));
          }
          table.append(row);
        }
        card.append(table);
      }
      const ok = (op.responses || {})["200"];
      if (ok && ok.content) {
        card.append(node("p", "200: " + Object.entries(ok.content)
          .map(([type, c]) => `${type} ${typeOf(c.schema)}`).join(", "), "muted"));
      }
      root.append(card);
    }
  }
}

document.addEventListener("DOMContentLoaded", render);
