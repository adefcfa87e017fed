// Shared by both pages: which model the page is about (`?model=NAME`, else the function's
// default), its URLs, and, when the function serves several models, links to each one's page.
// URLs are relative to the page, so it works at / and behind an API Gateway stage (/Prod/).
"use strict";
const base = new URL(location.pathname.endsWith("/") ? location.href : location.pathname + "/", location.href);
const chosen = new URLSearchParams(location.search).get("model");
const modelRoot = chosen ? `models/${encodeURIComponent(chosen)}` : "";
// GET model (the default) or models/NAME; POST predict or models/NAME/predict
const modelUrl = new URL(modelRoot || "model", base);
const predictUrl = new URL(modelRoot ? `${modelRoot}/predict` : "predict", base);

async function listModels() {
  try {
    const response = await fetch(new URL("models", base));
    if (!response.ok) return;
    const { models } = await response.json();
    if (models.length < 2) return;
    const nav = document.getElementById("models");
    nav.replaceChildren(...models.map(({ name, default: isDefault }) => {
      const link = document.createElement("a");
      link.href = `?model=${encodeURIComponent(name)}`;
      link.textContent = name + (isDefault ? " (default)" : "");
      if (name === (chosen || models.find((m) => m.default)?.name)) link.setAttribute("aria-current", "page");
      return link;
    }));
    nav.hidden = false;
  } catch (err) {
    console.warn("GET models failed:", err);
  }
}

listModels();
