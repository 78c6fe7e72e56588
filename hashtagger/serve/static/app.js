"use strict";
// The hashtagger page: send the chosen photos to /v1/predict, show each photo's hashtags with scores.
(() => {
  const $ = (id) => document.getElementById(id);
  let lastFiles = [];
  let urls = [];

  function headers() {
    const key = $("api_key").value.trim();
    return key ? { Authorization: "Bearer " + key } : {};
  }

  async function hello() {
    try {
      const r = await fetch("/healthz");
      const info = await r.json();
      $("model").textContent = "model: " + info.model;
      $("key_row").hidden = !info.auth;
    } catch (e) {
      $("status").textContent = "The server does not answer.";
    }
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function copy(text, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) { // older browsers, or pages not served over https/localhost
      const area = el("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = "Copied";
    button.classList.add("done");
    setTimeout(() => { button.textContent = "Copy"; button.classList.remove("done"); }, 1500);
  }

  const KIND = {
    content: "content tag: what the photo shows",
    reach: "reach tag: popular on Instagram, not something the photo shows",
  };

  // A chip: the tag, and its score as a bar next to the photo's best tag (the number is in the tooltip:
  // raw scores such as 0.0029 mean little on their own).
  function chip(h, best) {
    const kind = h.kind === "reach" ? "reach" : "content";
    const li = el("li", kind === "reach" ? "hashtag reach" : "hashtag");
    const share = best > 0 ? Math.max(0, Math.min(1, h.score / best)) : 0;
    const percent = Math.round(share * 100);
    const score = "score " + h.score.toPrecision(2) + ", " + percent + "% of the best tag";
    li.title = (h.kind ? KIND[kind] + "; " : "") + score;
    li.appendChild(el("span", "tag", "#" + h.tag));
    const bar = el("span", "score");
    bar.dataset.score = String(h.score);
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", score);
    const fill = el("span", "fill");
    fill.style.width = Math.max(percent, 4) + "%"; // CSSOM, allowed by the page's style-src 'self'
    bar.appendChild(fill);
    li.appendChild(bar);
    return li;
  }

  function card(record, file, url) {
    const li = el("li", "card");
    if (record.error) {
      li.appendChild(el("span", "noimg"));
    } else {
      const img = el("img");
      img.alt = "";
      img.src = url;
      li.appendChild(img);
    }
    const body = el("div");
    body.appendChild(el("p", "name", record.path || file.name));
    if (record.error) {
      body.appendChild(el("p", "error", record.error));
    } else {
      const tags = el("ul", "tags");
      const best = Math.max(0, ...record.hashtags.map((h) => h.score));
      for (const h of record.hashtags) tags.appendChild(chip(h, best));
      body.appendChild(tags);
      if (!record.hashtags.length) body.appendChild(el("p", "muted", "No hashtag left by the threshold or the tag filter."));
      const button = el("button", "copy", "Copy");
      button.type = "button";
      const text = record.hashtags.map((h) => "#" + h.tag).join(" ");
      button.addEventListener("click", () => copy(text, button));
      body.appendChild(button);
    }
    li.appendChild(body);
    return li;
  }

  async function tag(files) {
    if (!files.length) return;
    lastFiles = files;
    const form = new FormData();
    for (const f of files) form.append("file", f, f.name);
    const params = new URLSearchParams({ top_k: $("top_k").value || "10" });
    if ($("threshold").value !== "") params.set("threshold", $("threshold").value);
    if ($("only").value !== "") params.set("only", $("only").value);
    $("status").textContent = "Tagging " + files.length + (files.length === 1 ? " photo…" : " photos…");
    let records;
    try {
      const r = await fetch("/v1/predict?" + params, { method: "POST", body: form, headers: headers() });
      const answer = await r.json();
      if (!r.ok) {
        const d = answer.detail;
        $("status").textContent = "Error: " + (typeof d === "string" ? d : JSON.stringify(d));
        if (r.status === 401) $("key_row").hidden = false;
        return;
      }
      records = answer;
    } catch (e) {
      $("status").textContent = "Error: " + e;
      return;
    }
    urls.forEach((u) => URL.revokeObjectURL(u));
    urls = files.map((f) => URL.createObjectURL(f));
    const list = $("results");
    list.replaceChildren(...records.map((rec, i) => card(rec, files[i], urls[i])));
    $("legend").hidden = !records.some((r) => r.hashtags && r.hashtags.length);
    const bad = records.filter((r) => r.error).length;
    $("status").textContent = records.length + (records.length === 1 ? " photo" : " photos") +
      (bad ? ", " + bad + " could not be tagged" : "");
  }

  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    tag(Array.from(e.dataTransfer.files));
  });
  $("files").addEventListener("change", (e) => tag(Array.from(e.target.files)));
  for (const id of ["top_k", "threshold", "only"]) $(id).addEventListener("change", () => tag(lastFiles));
  $("settings").addEventListener("submit", (e) => { e.preventDefault(); tag(lastFiles); });
  hello();
})();
