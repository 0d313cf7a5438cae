// A fake DOM just big enough for static/app.js: runs the page's script against canned
// answers of v1/labels, v1/predict and v1/explain, then prints what the page shows.
const fs = require("fs");
const [script, labelsJson, predictJson, chosenView] = process.argv.slice(2);
function node(id) {
  return {
    id, hidden: false, textContent: "", value: "", children: [], dataset: {}, style: {},
    classList: { toggle() {} }, className: "", maxLength: 0, disabled: false,
    append(...c) { this.children.push(...c); }, replaceChildren(...c) { this.children = c; },
    setAttribute() {}, addEventListener(type, fn) { this["on" + type] = fn; },
  };
}
const nodes = {};
const ids = ["form", "text", "analyse", "status", "result", "top-k", "long-text", "view",
  "lead", "bars-note", "ekman-box", "sentiment-box", "ekman", "sentiment", "labels", "top",
  "tokens", "bars"];
for (const id of ids) nodes[id] = node(id);
nodes["top-k"].value = "5"; nodes["long-text"].value = "truncate"; nodes.view.value = "labels";
const requests = [];
global.document = {
  getElementById: (id) => nodes[id],
  createElement: (tag) => node(tag),
};
const answers = { "v1/labels": JSON.parse(fs.readFileSync(labelsJson)),
  "v1/predict": JSON.parse(fs.readFileSync(predictJson)),
  "v1/explain": { tokens: ["a"], attention: [1], labels: [], top: [], probabilities: {} } };
global.fetch = async (path, opts) => {
  if (opts) requests.push({ path, body: JSON.parse(opts.body) });
  return { ok: true, status: 200, json: async () => answers[path] };
};
eval(fs.readFileSync(script, "utf8"));
setTimeout(async () => {
  nodes.text.value = "hello";
  if (chosenView) nodes.view.value = chosenView; // the user picks a view
  nodes.form.onsubmit({ preventDefault() {} });
  setTimeout(() => {
    console.log(JSON.stringify({
      views: nodes.view.children.map((o) => o.value), lead: nodes.lead.textContent,
      ekmanHidden: nodes["ekman-box"].hidden, sentimentHidden: nodes["sentiment-box"].hidden,
      ekman: nodes.ekman.textContent, requests,
      bars: nodes.bars.children.map((b) => b.dataset.label),
      status: nodes.status.textContent, resultHidden: nodes.result.hidden,
    }));
  }, 20);
}, 20);
