// emobalance web page: v1/predict (the labels, the top k in the chosen view, the Ekman and
// sentiment groups when the model's schema has them, under the chosen long-text policy) and
// v1/explain (the tokens shaded by weight), then a sorted bar chart. The labels, the views and
// the texts describing them come from v1/labels (the model's own label schema), not from a
// fixed list. Plain DOM code: the page loads nothing from elsewhere.
"use strict";

(function () {
  const form = document.getElementById("form");
  const input = document.getElementById("text");
  const button = document.getElementById("analyse");
  const status = document.getElementById("status");
  const result = document.getElementById("result");
  const topK = document.getElementById("top-k");
  const longText = document.getElementById("long-text");
  const view = document.getElementById("view");
  // what v1/labels says about the model; GoEmotions' until it answers
  let schema = { labels: [], groupings: { ekman: {}, sentiment: {} }, single_label: false };

  function setStatus(message, isError) {
    status.textContent = message;
    status.classList.toggle("error", Boolean(isError));
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function renderTokens(tokens, attention) {
    const box = document.getElementById("tokens");
    box.replaceChildren();
    const top = Math.max(0, ...attention) || 1;
    tokens.forEach((token, i) => {
      const weight = attention[i] || 0;
      const alpha = weight / top; // relative, so the strongest token is always fully shaded
      const span = el("span", "token", token);
      span.style.backgroundColor = `rgba(51, 103, 214, ${alpha.toFixed(3)})`;
      span.style.color = alpha > 0.55 ? "#fff" : "";
      span.dataset.weight = weight.toFixed(4);
      span.title = `attention ${weight.toFixed(3)}`;
      box.append(span, " ");
    });
  }

  function renderBars(probabilities, labels) {
    const list = document.getElementById("bars");
    list.replaceChildren();
    const predicted = new Set(labels);
    const rows = Object.entries(probabilities).sort((a, b) => b[1] - a[1]);
    for (const [label, p] of rows) {
      const item = el("li", predicted.has(label) ? "bar on" : "bar");
      item.dataset.label = label;
      item.dataset.probability = p.toFixed(4);
      const track = el("span", "track");
      const fill = el("span", "fill");
      fill.style.width = `${(100 * p).toFixed(1)}%`;
      fill.setAttribute("role", "presentation");
      track.append(fill);
      item.append(el("span", "name", label), track, el("span", "value", p.toFixed(3)));
      list.append(item);
    }
  }

  function renderTop(top) {
    const list = document.getElementById("top");
    list.replaceChildren();
    for (const item of top) {
      const row = el("li", "", item.label);
      row.dataset.label = item.label;
      row.dataset.probability = item.probability.toFixed(4);
      row.append(el("span", "value", item.probability.toFixed(3)));
      list.append(row);
    }
  }

  // the Ekman / sentiment boxes show only for a schema with that grouping
  function renderGroup(name, value) {
    const box = document.getElementById(`${name}-box`);
    box.hidden = !(name in schema.groupings) || value === undefined;
    document.getElementById(name).textContent = value === undefined ? "" : value;
  }

  function render(pred, explained) {
    renderGroup("ekman", pred.ekman);
    renderGroup("sentiment", pred.sentiment);
    const labelBox = document.getElementById("labels");
    labelBox.replaceChildren();
    if (pred.labels.length === 0) {
      labelBox.textContent = "(none above its threshold)";
    } else {
      for (const label of pred.labels) labelBox.append(el("span", "chip", label));
    }
    renderTop(pred.top);
    renderTokens(explained.tokens, explained.attention);
    renderBars(pred.probabilities, pred.labels);
    result.hidden = false;
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error(data.detail || `HTTP ${response.status}`);
    }
    return data;
  }

  async function analyse() {
    const text = input.value;
    if (!text.trim()) {
      setStatus("Type a text first.", true);
      return;
    }
    button.disabled = true;
    setStatus("Analysing…");
    try {
      const k = Number(topK.value) || 5;
      const request = { texts: [text], top_k: Math.min(k, viewSize()), view: view.value };
      if (longText.value !== "truncate") request.long_text = longText.value;
      const [pred, explained] = await Promise.all([
        post("v1/predict", request),
        post("v1/explain", { text: text, top_k: Math.min(k, schema.labels.length || k) }),
      ]);
      render(pred.predictions[0], explained);
      setStatus("");
    } catch (err) {
      setStatus(`Error: ${err.message}`, true);
    } finally {
      button.disabled = false;
    }
  }

  // how many names the chosen view has (top_k may not exceed it)
  function viewSize() {
    const groups = schema.groupings[view.value];
    const n = groups ? Object.keys(groups).length : schema.labels.length;
    return n || Infinity;
  }

  // The label schema of the served model: its labels, its groupings (the views) and whether it
  // is single-label. The page describes and offers what the model has.
  function applySchema(info) {
    schema = {
      labels: info.labels || [],
      groupings: info.groupings || {},
      single_label: Boolean(info.single_label),
    };
    const views = info.views || ["labels", ...Object.keys(schema.groupings)];
    view.replaceChildren(
      ...views.map((name) => {
        const option = el("option", "", name);
        option.value = name;
        return option;
      }),
    );
    view.value = "labels";
    const n = schema.labels.length;
    const kind = schema.single_label ? "Single-label" : "Multi-label";
    const groups = Object.keys(schema.groupings);
    const lead = `${kind} emotion classification: ${n} labels of ${info.schema || "the model"}`;
    document.getElementById("lead").textContent =
      lead + (groups.length ? ` (views: ${groups.join(", ")}).` : ".");
    document.getElementById("bars-note").textContent = schema.single_label
      ? `All ${n} labels (or the view's groups), sorted by probability; the marked bar is the ` +
        "predicted label."
      : `All ${n} labels (or the view's groups), sorted by probability; a marked bar is at or ` +
        "above its tuned threshold.";
    for (const name of ["ekman", "sentiment"]) {
      document.getElementById(`${name}-box`).hidden = !(name in schema.groupings);
    }
  }

  fetch("v1/labels")
    .then((r) => (r.ok ? r.json() : null))
    .then((info) => {
      if (!info) return;
      // The server's --max-chars may differ from the 5000 in the HTML: follow it.
      if (info.limits && info.limits.max_chars) input.maxLength = info.limits.max_chars;
      if (info.labels) applySchema(info);
    })
    .catch(() => {});

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    analyse();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      analyse();
    }
  });
})();
