// triage intake-desk page: plain JS, no build step, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const SOURCE_LABEL = { mention: "信中点名", inferred: "据内容推断", none: "未能确定" };
const REASON_LABEL = {
  category_low_confidence: "类别把握不足",
  unit_low_confidence: "责任单位把握不足",
  no_signal: "信中没有可判断的内容",
};
const HEAD_LABEL = { category: "类别依据", unit: "单位依据" };

// ---- privacy: mask phone and ID-card numbers one digit for one "*", so evidence offsets stay right --------
// Mirrors triage.text.mask_pii (which may change the length); here only digits become "*". Full-width digits
// (１３８…) are folded to ASCII for matching, so they are masked too.
const PII_RULES = [
  // 18-digit ID card: keep the first 6 and the last 4.
  [/(?<![0-9A-Za-z])([1-9]\d{5})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])/dg, (m) => [m.indices[2]]],
  // mobile: keep the first 3 and the last 4.
  [/(?<!\d)(\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)/dg, (m) => [m.indices[3]]],
  // landline: keep the area code and the last 2.
  [/(?<!\d)([(\uFF08]?0\d{2,3}[)\uFF09]?)[- ]?(\d{7,8})(?!\d)/dg, (m) => [[m.indices[2][0], m.indices[2][1] - 2]]],
];
const FULLWIDTH_DIGIT = /[\uFF10-\uFF19]/g;
const IS_DIGIT = /[0-9\uFF10-\uFF19]/;

function maskPii(text) {
  let s = text;
  for (const [re, spans] of PII_RULES) {
    const probe = s.replace(FULLWIDTH_DIGIT, (c) => String.fromCharCode(c.charCodeAt(0) - 0xff10 + 48));
    const units = s.split(""); // UTF-16 code units, as the regex indices count
    for (const m of probe.matchAll(re)) {
      for (const [a, b] of spans(m)) {
        for (let i = a; i < b; i++) if (IS_DIGIT.test(units[i])) units[i] = "*";
      }
    }
    s = units.join("");
  }
  return s;
}

// ---- API ------------------------------------------------------------------------------------------------
function authHeaders() {
  const key = sessionStorage.getItem("triage-api-key");
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function errorMessage(resp) {
  try {
    const body = await resp.json();
    return body.message_zh || body.message || `请求失败（${resp.status}）`;
  } catch {
    return `请求失败（${resp.status}）`;
  }
}

async function postJSON(url, body) {
  const resp = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...authHeaders() },
    body: JSON.stringify(body),
  });
  if (!resp.ok) throw new Error(await errorMessage(resp));
  return resp.json();
}

// ---- rendering ------------------------------------------------------------------------------------------
const pct = (x) => `${Math.round(x * 100)}%`;

function setBar(el, score) {
  el.style.width = pct(Math.max(0, Math.min(1, score)));
}

function altItem(label, score) {
  const li = document.createElement("li");
  const name = document.createElement("span");
  name.textContent = label;
  const bar = document.createElement("div");
  bar.className = "bar";
  const fill = document.createElement("span");
  setBar(fill, score);
  bar.append(fill);
  const p = document.createElement("span");
  p.className = "pct";
  p.textContent = pct(score);
  li.append(name, bar, p);
  return li;
}

/** Show the letter (masked) with evidence spans marked; offsets count code points, as Python does. */
function renderLetter(container, text, evidence) {
  const chars = Array.from(maskPii(text));
  const marks = new Array(chars.length).fill(0); // bit 1: category evidence, bit 2: unit evidence
  for (const ev of evidence) {
    const bit = ev.head === "unit" ? 2 : 1;
    for (let i = Math.max(0, ev.start); i < Math.min(chars.length, ev.end); i++) marks[i] |= bit;
  }
  container.replaceChildren();
  for (let i = 0; i < chars.length; ) {
    let j = i;
    while (j < chars.length && marks[j] === marks[i]) j++;
    const seg = chars.slice(i, j).join("");
    if (marks[i]) {
      const m = document.createElement("mark");
      const heads = [marks[i] & 1 ? "category" : null, marks[i] & 2 ? "unit" : null].filter(Boolean);
      m.className = heads.map((h) => `ev-${h}`).join(" ");
      m.title = heads.map((h) => HEAD_LABEL[h]).join("、");
      m.textContent = seg;
      container.append(m);
    } else {
      container.append(document.createTextNode(seg));
    }
    i = j;
  }
  const chips = $("evidence");
  chips.replaceChildren();
  for (const ev of evidence) {
    const li = document.createElement("li");
    li.className = `ev-${ev.head}`;
    li.textContent = chars.slice(ev.start, ev.end).join("");
    li.title = `${HEAD_LABEL[ev.head] || ev.head} · 权重 ${ev.weight}`;
    chips.append(li);
  }
}

function renderResult(r, text) {
  const review = $("review");
  if (r.needs_review) {
    const why = r.review_reasons.map((x) => REASON_LABEL[x] || x).join("、");
    review.className = "review needs";
    review.textContent = `⚠ 需人工复核${why ? "：" + why : ""}`;
  } else {
    review.className = "review ok";
    review.textContent = "✓ 无需复核，可直接分办";
  }
  $("cat-char").textContent = r.char || "？";
  $("cat-name").textContent = r.name || r.category || "未能确定";
  $("cat-id").textContent = r.category || "";
  $("cat-score").textContent = pct(r.category_score);
  setBar($("cat-bar"), r.category_score);
  $("alternatives").replaceChildren(
    ...r.alternatives.map((a) => altItem(`${a.char} ${a.name}`, a.score)));

  $("unit-name").textContent = r.unit_name;
  const src = $("unit-source");
  src.className = `badge ${r.unit_source}`;
  src.textContent = SOURCE_LABEL[r.unit_source] || r.unit_source;
  $("unit-score").textContent = pct(r.unit_score);
  setBar($("unit-bar"), r.unit_score);
  $("unit-alternatives").replaceChildren(
    ...r.unit_alternatives.filter((a) => a.unit !== r.unit).map((a) => altItem(a.unit_name, a.score)));

  renderLetter($("highlighted"), text, r.evidence);
  $("request-id").textContent = r.request_id;
  $("result-model").textContent = `${r.model.name} ${r.model.sha256}`;
  $("result").hidden = false;
}

function showError(id, message) {
  const el = $(id);
  el.textContent = message || "";
  el.hidden = !message;
}

// ---- paste tab ------------------------------------------------------------------------------------------
async function classify(event) {
  event.preventDefault();
  const text = $("letter").value;
  const btn = $("classify-btn");
  showError("paste-error", "");
  if (!text.trim()) {
    showError("paste-error", "请先粘贴信件正文。");
    return;
  }
  btn.disabled = true;
  btn.textContent = "分类中…";
  try {
    renderResult(await postJSON("/v1/classify", { text, top_k: 3 }), text);
  } catch (e) {
    $("result").hidden = true;
    showError("paste-error", e instanceof TypeError ? "无法连接服务，请检查网络或联系管理员。" : e.message);
  } finally {
    btn.disabled = false;
    btn.textContent = "分类";
  }
}

// ---- upload tab -----------------------------------------------------------------------------------------
function filenameFrom(disposition, fallback) {
  const star = /filename\*=(?:UTF-8|utf-8)''([^;]+)/.exec(disposition || "");
  if (star) return decodeURIComponent(star[1]);
  const plain = /filename="?([^";]+)"?/.exec(disposition || "");
  return plain ? plain[1] : fallback;
}

async function upload(event) {
  event.preventDefault();
  const file = $("file").files[0];
  showError("upload-error", "");
  $("upload-result").hidden = true;
  if (!file) {
    showError("upload-error", "请先选择文件。");
    return;
  }
  const form = new FormData();
  form.append("file", file);
  form.append("text_col", $("text-col").value.trim() || "text");
  if ($("id-col").value.trim()) form.append("id_col", $("id-col").value.trim());
  const btn = $("upload-btn");
  btn.disabled = true;
  $("upload-status").textContent = `正在标注 ${file.name}…（大文件需要几分钟）`;
  try {
    const resp = await fetch("/v1/files/label", { method: "POST", headers: authHeaders(), body: form });
    if (!resp.ok) throw new Error(await errorMessage(resp));
    const blob = await resp.blob();
    const name = filenameFrom(resp.headers.get("Content-Disposition"), "labelled_" + file.name);
    let summary = {};
    try { summary = JSON.parse(resp.headers.get("X-Triage-Summary") || "{}"); } catch { /* keep empty */ }
    const link = $("download-link");
    if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(blob);
    link.download = name;
    link.textContent = `下载 ${name}`;
    const parts = [`共 ${summary.rows ?? "?"} 行`];
    if (summary.errors) parts.push(`${summary.errors} 行无法分类`);
    if (summary.needs_review !== undefined) parts.push(`${summary.needs_review} 行需人工复核`);
    if (summary.seconds !== undefined) parts.push(`用时 ${Number(summary.seconds).toFixed(1)} 秒`);
    $("upload-summary").textContent = parts.join("，") + "。";
    $("upload-result").hidden = false;
    $("upload-status").textContent = "";
    link.click();
  } catch (e) {
    $("upload-status").textContent = "";
    showError("upload-error", e instanceof TypeError ? "无法连接服务，请检查网络或联系管理员。" : e.message);
  } finally {
    btn.disabled = false;
  }
}

// ---- page -----------------------------------------------------------------------------------------------
function selectTab(name) {
  for (const t of ["paste", "upload"]) {
    $(`tab-${t}`).setAttribute("aria-selected", String(t === name));
    $(`panel-${t}`).hidden = t !== name;
  }
}

async function checkReady() {
  const el = $("model-status");
  try {
    const resp = await fetch("/readyz");
    if (resp.ok) {
      const r = await resp.json();
      el.textContent = `模型 ${r.model.name} · ${r.model.sha256.slice(0, 8)}`;
      el.className = "status";
    } else {
      el.textContent = `服务未就绪：${await errorMessage(resp)}`;
      el.className = "status bad";
    }
  } catch {
    el.textContent = "无法连接服务";
    el.className = "status bad";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("paste-form").addEventListener("submit", classify);
  $("upload-form").addEventListener("submit", upload);
  $("letter").addEventListener("input", () => {
    $("char-count").textContent = `${Array.from($("letter").value).length} 字`;
  });
  $("letter").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("paste-form").requestSubmit();
  });
  $("clear-btn").addEventListener("click", () => {
    $("letter").value = "";
    $("char-count").textContent = "0 字";
    $("result").hidden = true;
    showError("paste-error", "");
    $("letter").focus();
  });
  $("tab-paste").addEventListener("click", () => selectTab("paste"));
  $("tab-upload").addEventListener("click", () => selectTab("upload"));
  const key = $("api-key");
  key.value = sessionStorage.getItem("triage-api-key") || "";
  key.addEventListener("change", () => {
    if (key.value.trim()) sessionStorage.setItem("triage-api-key", key.value.trim());
    else sessionStorage.removeItem("triage-api-key");
  });
  checkReady();
});

// For tests and the console.
window.triagePage = { maskPii };
