// The upload page: preview the chosen photo, POST it to predict, show the answer.
// URLs are relative to the page, so it works at / and behind an API Gateway stage (/Prod/).
"use strict";
const fileInput = document.getElementById("file");
const preview = document.getElementById("preview");
const result = document.getElementById("result");

// "/Prod" (no trailing slash) would resolve "predict" to "/predict": resolve against the folder.
const base = new URL(location.pathname.endsWith("/") ? location.href : location.pathname + "/", location.href);

fileInput.addEventListener("change", async () => {
  const file = fileInput.files[0];
  if (!file) return;
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  result.className = "";
  result.textContent = "Thinking...";
  const form = new FormData();
  form.append("file", file);
  try {
    const response = await fetch(new URL("predict", base), { method: "POST", body: form });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    const top = body.predictions[0];
    result.textContent = `${top.label} (${(top.probability * 100).toFixed(1)}%)`;
  } catch (err) {
    result.className = "error";
    result.textContent = `Error: ${err.message}`;
  }
});
