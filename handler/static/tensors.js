// The page of a model that takes no images: its signature from GET model, and a curl example
// of POST predict with a zero (or empty-string) row of every input.
// URLs are relative to the page, so it works at / and behind an API Gateway stage (/Prod/).
// Text goes in with textContent only: names come from the model's manifest, not from us.
"use strict";

function dims(shape) {
  return `[${shape.map((d) => (d === null ? "?" : d)).join(", ")}]`;
}

function fill(table, tensors) {
  table.tBodies[0].replaceChildren(...tensors.map((t) => {
    const row = document.createElement("tr");
    for (const text of [t.name, t.dtype, dims(t.shape)]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  }));
}

// One row (batch 1) of zeros, false or "" in the input's shape; open dimensions get 1.
function sample(tensor) {
  const leaf = tensor.dtype === "string" ? "" : tensor.dtype === "bool" ? false : 0;
  return tensor.shape.slice(1).reduceRight((inner, d) => Array(d === null ? 1 : d).fill(inner), leaf);
}

async function show() {
  try {
    const response = await fetch(modelUrl);
    const model = await response.json();
    if (!response.ok) throw new Error(model.error || response.statusText);
    document.title = document.getElementById("heading").textContent = `${model.name} ${model.version}`;
    fill(document.getElementById("inputs"), model.inputs);
    fill(document.getElementById("outputs"), model.outputs);
    const inputs = Object.fromEntries(model.inputs.map((t) => [t.name, [sample(t)]]));
    document.getElementById("example").textContent =
      `curl -H 'Content-Type: application/json' -d '${JSON.stringify({ inputs })}' ${predictUrl}`;
  } catch (err) {
    const example = document.getElementById("example");
    example.className = "error";
    example.textContent = `GET model failed: ${err.message}`;
  }
}

show();
