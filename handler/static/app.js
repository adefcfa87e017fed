// The upload page: ask the served model's question, preview the chosen photo, POST it to
// predict, show the answer and every label's probability.
// URLs are relative to the page, so it works at / and behind an API Gateway stage (/Prod/).
// Text goes in with textContent only: labels come from the model's manifest, not from us.
"use strict";
const heading = document.getElementById("heading");
const fileInput = document.getElementById("file");
const preview = document.getElementById("preview");
const result = document.getElementById("result");
const probabilities = document.getElementById("probabilities");


// ["cat", "dog"] -> "Cat or dog?"; ["a", "b", "c"] -> "A, b or c?"
function question(labels) {
  const words = labels.length > 2
    ? `${labels.slice(0, -1).join(", ")} or ${labels[labels.length - 1]}`
    : labels.join(" or ");
  return `${words.charAt(0).toUpperCase()}${words.slice(1)}?`;
}

async function askTheModelsQuestion() {
  try {
    const response = await fetch(modelUrl);
    if (!response.ok) return; // keep the neutral heading; predictions still work or say why
    const model = await response.json();
    if (model.task) document.title = heading.textContent = question(model.task.labels);
  } catch (err) {
    console.warn("GET model failed:", err);
  }
}

function showProbabilities(ranked) {
  probabilities.replaceChildren(...ranked.map(({ label, probability }) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "label";
    name.textContent = label;
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = probability;
    const percent = document.createElement("span");
    percent.className = "percent";
    percent.textContent = `${(probability * 100).toFixed(1)}%`;
    item.append(name, bar, percent);
    return item;
  }));
}

fileInput.addEventListener("change", async () => {
  const file = fileInput.files[0];
  if (!file) return;
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  result.className = "";
  result.textContent = "Thinking...";
  probabilities.replaceChildren();
  const form = new FormData();
  form.append("file", file);
  try {
    const response = await fetch(predictUrl, { method: "POST", body: form });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    const top = body.predictions[0];
    result.textContent = `${top.label} (${(top.probability * 100).toFixed(1)}%)`;
    showProbabilities(top.top_k); // every label, most likely first (no ?k= given)
  } catch (err) {
    result.className = "error";
    result.textContent = `Error: ${err.message}`;
  }
});

askTheModelsQuestion();
