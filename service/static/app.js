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

/** Show the letter (masked) with evidence spans marked in ``container`` and listed as chips in ``chips``;
 * offsets count code points, as Python does. */
function renderLetter(container, chips, text, evidence) {
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

  renderLetter($("highlighted"), $("evidence"), text, r.evidence);
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

// ---- the review desk: who am I, counters, the queue, one letter, the reviewed list --------------------------
const PAGE_SIZE = 20;
const SOURCE_NAME = { box: "信箱", hotline: "热线", web: "网站", batch: "批量导入", other: "其他" };
const ROLE_NAME = { desk: "复核员", viewer: "只读", admin: "管理员" };
const desk = {
  me: null, // {name, role} from /v1/whoami; null until known
  categories: [], // [{id, char, name}]
  units: [], // [{id, name}]
  queue: { items: [], total: 0, offset: 0, loaded: false },
  done: { items: [], total: 0, offset: 0, loaded: false },
  current: null, // the Letter shown in the letter view
  busy: false,
};

/** An API failure: HTTP status (0: no connection), the server's stable code and its Chinese message. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(url, { method = "GET", body } = {}) {
  const headers = { ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "network", "无法连接服务，请检查网络或联系管理员。");
  }
  if (!resp.ok) {
    let b = {};
    try { b = await resp.json(); } catch { /* not JSON */ }
    let message = b.message_zh || b.message || `请求失败（${resp.status}）`;
    if (resp.status === 401) message = "需要访问密钥：请在页面底部“访问密钥”中填写，然后按回车。";
    throw new ApiError(resp.status, b.code || `http_${resp.status}`, message);
  }
  return resp.json();
}

const canReview = () => !desk.me || desk.me.role !== "viewer";
const categoryById = (id) => desk.categories.find((c) => c.id === id);
const UNKNOWN_UNIT = "未能确定";
const unitName = (id, fallback) =>
  (desk.units.find((u) => u.id === id) || {}).name || fallback || (!id || id === "unknown" ? UNKNOWN_UNIT : id);

function categoryLabel(id, char, name) {
  const c = categoryById(id);
  const ch = char || (c && c.char) || "";
  const nm = name || (c && c.name) || id || "未能确定";
  return ch ? `${ch} ${nm}` : nm;
}

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const opts = { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false };
  if (d.getFullYear() !== new Date().getFullYear()) opts.year = "numeric";
  return d.toLocaleString("zh-CN", opts);
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function announce(message) {
  $("desk-status").textContent = message;
}

function deskError(message) {
  showError("desk-error", message);
  if (message && /访问密钥/.test(message)) $("key-box").open = true;
}

async function loadWhoami() {
  const box = $("whoami");
  try {
    desk.me = await api("/v1/whoami");
    box.textContent = `${desk.me.name} · ${ROLE_NAME[desk.me.role] || desk.me.role}`;
    box.className = "status";
  } catch (e) {
    desk.me = null;
    box.textContent = e.status === 401 ? "未登录：请填写访问密钥" : "";
    box.className = "status bad";
  }
  box.hidden = !box.textContent;
  document.body.classList.toggle("read-only", !canReview());
  if (desk.current) showReviewControls();
}

async function loadStats() {
  let st, queue;
  try { // the queue's own total: the store's needs_review count also holds the repeats the queue leaves out
    [st, queue] = await Promise.all([api("/v1/desk/stats"), api("/v1/letters?status=needs_review&limit=1")]);
  } catch {
    return; // the counters are a convenience; the lists report their own errors
  }
  const by = st.by_status || {};
  const num = (v) => (typeof v === "number" ? v : null);
  const waiting = num(queue.total);
  const reviewed = num(st.reviewed) ?? num(by.reviewed);
  const parts = [["待复核", waiting], ["逾期", num(st.overdue)], ["已复核", reviewed], ["其中更正", num(st.corrected)],
    ["自动分办", num(by.routed)], ["重复来信", num(st.repeats)], ["共收信", num(st.total)]];
  const box = $("desk-stats");
  box.replaceChildren(...parts.filter(([, v]) => v !== null).map(([k, v]) => {
    const s = el("span", k === "逾期" && v > 0 ? "stat warn" : "stat");
    s.append(el("b", null, v), document.createTextNode(` ${k}`));
    return s;
  }));
  for (const [id, v] of [["count-queue", waiting], ["count-done", reviewed]]) {
    $(id).textContent = v ?? "";
    $(id).hidden = v === null;
  }
}

async function loadPickers() {
  if (desk.categories.length && desk.units.length) return;
  const [cats, units] = await Promise.all([api("/v1/categories"), api("/v1/units")]);
  desk.categories = cats;
  desk.units = units;
}

// -- the queue ------------------------------------------------------------------------------------------------
function queueItem(l) {
  const li = el("li", "q-item");
  li.id = `q-${l.id}`;
  li.dataset.id = l.id;
  li.setAttribute("role", "option");
  li.setAttribute("aria-selected", "false");
  const head = el("div", "q-head");
  if (l.overdue) head.append(el("span", "badge overdue", "逾期"));
  head.append(el("span", "q-id", `#${l.id}`), el("span", "muted", `${fmtTime(l.received_at)} · ${SOURCE_NAME[l.source] || l.source}`));
  head.append(el("span", l.overdue ? "q-due late" : "q-due", `限 ${fmtTime(l.due_at)}`));
  const cat = el("div", "q-labels");
  const ch = el("span", "mini-char", l.char || "？");
  ch.setAttribute("aria-hidden", "true");
  cat.append(ch, el("span", "q-cat", categoryLabel(l.category, "", l.category_name || l.name)),
    el("span", "q-sep", "→"), el("span", "q-unit", l.unit_name || unitName(l.unit)));
  const scores = el("div", "q-scores muted small",
    `类别把握 ${pct(l.category_score || 0)} · 单位把握 ${pct(l.unit_score || 0)}`);
  li.append(head, cat, scores);
  if (l.repeats > 0) li.append(el("div", "repeats small", `另有 ${l.repeats} 封重复来信`));
  if (l.text) {
    const snippet = Array.from(maskPii(l.text)).slice(0, 60).join("");
    li.append(el("div", "q-snippet small", snippet + (Array.from(l.text).length > 60 ? "…" : "")));
  }
  li.addEventListener("click", () => openLetter(l.id, { focus: "picker" }));
  return li;
}

function renderPager(prefix, state) {
  const { offset, total, items } = state;
  $(`${prefix}-range`).textContent = total
    ? `第 ${offset + 1}–${offset + items.length} 条，共 ${total} 条` : "";
  $(`${prefix}-prev`).disabled = offset <= 0;
  $(`${prefix}-next`).disabled = offset + items.length >= total;
}

async function loadQueue({ keepIndex = null } = {}) {
  showError("desk-error", "");
  let r;
  try {
    r = await api(`/v1/letters?status=needs_review&limit=${PAGE_SIZE}&offset=${desk.queue.offset}`);
  } catch (e) {
    deskError(e.message);
    return;
  }
  if (!r.items.length && r.total > 0 && desk.queue.offset > 0) { // the last page emptied: step back
    desk.queue.offset = Math.max(0, desk.queue.offset - PAGE_SIZE);
    return loadQueue({ keepIndex });
  }
  Object.assign(desk.queue, { items: r.items, total: r.total, loaded: true });
  const list = $("queue");
  list.replaceChildren(...r.items.map(queueItem));
  $("queue-empty").hidden = r.items.length > 0;
  renderPager("queue", desk.queue);
  const still = desk.current && r.items.find((l) => l.id === desk.current.id);
  if (keepIndex !== null && r.items.length) {
    openLetter(r.items[Math.min(keepIndex, r.items.length - 1)].id, { focus: "picker" });
  } else if (still && still.version === desk.current.version) { // unchanged: keep the clerk's unsent choices
    desk.current = still;
    markSelected(still.id);
  } else if (still) {
    openLetter(still.id, { focus: null });
  } else {
    closeLetter();
  }
}

function queueIndex() {
  return desk.current ? desk.queue.items.findIndex((l) => l.id === desk.current.id) : -1;
}

/** Move through the queue by ``step`` (±1), across pages. */
async function moveInQueue(step, focus) {
  const items = desk.queue.items;
  if (!items.length) return;
  const i = queueIndex();
  const j = i < 0 ? (step > 0 ? 0 : items.length - 1) : i + step;
  if (j >= 0 && j < items.length) {
    openLetter(items[j].id, { focus });
  } else if (j >= items.length && desk.queue.offset + items.length < desk.queue.total) {
    desk.queue.offset += PAGE_SIZE;
    await loadQueue({ keepIndex: 0 });
  } else if (j < 0 && desk.queue.offset > 0) {
    desk.queue.offset = Math.max(0, desk.queue.offset - PAGE_SIZE);
    await loadQueue({ keepIndex: PAGE_SIZE - 1 });
  }
}

// -- one letter -----------------------------------------------------------------------------------------------
function closeLetter() {
  desk.current = null;
  $("letter-view").hidden = true;
  backToQueue();
  $("queue").removeAttribute("aria-activedescendant");
}

function showReviewControls() {
  const ok = canReview() && desk.current && desk.current.status !== "reviewed";
  $("review-form").hidden = !ok;
  $("review-readonly").hidden = ok || !desk.current;
  $("review-readonly").textContent = !canReview()
    ? `当前角色（${ROLE_NAME[desk.me.role] || desk.me.role}）只能查看，不能复核。`
    : "这封信已复核。";
}

function buildCategoryPicker(l) {
  const scores = new Map([[l.category, l.category_score], ...(l.alternatives || []).map((a) => [a.category, a.score])]);
  const box = $("cat-options");
  box.replaceChildren();
  const cats = desk.categories.length ? desk.categories : [{ id: l.category, char: l.char, name: l.category_name }];
  for (const c of cats) {
    const id = `cat-opt-${c.id}`;
    const input = el("input");
    Object.assign(input, { type: "radio", name: "category", value: c.id, id, checked: c.id === l.category });
    const label = el("label", c.id === l.category ? "cat-opt model" : "cat-opt");
    label.htmlFor = id;
    const ch = el("span", "mini-char", c.char || "？");
    ch.setAttribute("aria-hidden", "true");
    label.append(ch, el("span", null, c.name || c.id));
    if (scores.has(c.id)) label.append(el("span", "muted small", pct(scores.get(c.id))));
    if (c.id === l.category) label.append(el("span", "tag", "模型"));
    const wrap = el("div", "cat-choice");
    wrap.append(input, label);
    box.append(wrap);
    input.addEventListener("change", updateDiff);
  }
}

function buildUnitPicker(l) {
  const sel = $("unit-picker");
  sel.replaceChildren();
  const suggested = [{ unit: l.unit, unit_name: l.unit_name, score: l.unit_score },
    ...(l.unit_alternatives || []).filter((a) => a.unit !== l.unit)].filter((a) => a.unit);
  const seen = new Set();
  const group = (label) => { const g = el("optgroup"); g.label = label; sel.append(g); return g; };
  const top = group("模型建议");
  for (const a of suggested) {
    seen.add(a.unit);
    const o = el("option", null, `${a.unit_name || unitName(a.unit)}（${pct(a.score || 0)}${a.unit === l.unit ? "，模型" : ""}）`);
    o.value = a.unit;
    top.append(o);
  }
  const rest = group("其他单位");
  for (const u of [...desk.units, { id: "unknown", name: UNKNOWN_UNIT }]) {
    if (seen.has(u.id)) continue;
    seen.add(u.id);
    const o = el("option", null, u.name);
    o.value = u.id;
    rest.append(o);
  }
  sel.value = l.unit || "unknown";
}

function chosen() {
  const c = document.querySelector('#cat-options input[name="category"]:checked');
  return { category: c ? c.value : null, unit: $("unit-picker").value || null };
}

function updateDiff() {
  const l = desk.current;
  if (!l) return;
  const { category, unit } = chosen();
  const changed = [];
  if (category !== l.category) changed.push(`类别 ${categoryLabel(l.category, l.char, l.category_name)} → ${categoryLabel(category)}`);
  if (unit !== l.unit) changed.push(`单位 ${l.unit_name || unitName(l.unit)} → ${unitName(unit)}`);
  const btn = $("review-btn");
  btn.textContent = changed.length ? "更正" : "确认";
  btn.classList.toggle("correct", changed.length > 0);
  $("review-diff").textContent = changed.length ? `将更正：${changed.join("；")}` : "与模型判断一致";
  for (const lab of document.querySelectorAll("#cat-options label")) {
    lab.classList.toggle("picked", lab.htmlFor === `cat-opt-${category}`);
  }
}

function markSelected(id) {
  for (const li of $("queue").children) li.setAttribute("aria-selected", String(Number(li.dataset.id) === id));
  $("queue").setAttribute("aria-activedescendant", `q-${id}`);
  const item = $(`q-${id}`);
  if (item) item.scrollIntoView({ block: "nearest" });
}

function openLetter(id, { focus = null } = {}) {
  const l = desk.queue.items.find((x) => x.id === id);
  if (!l) return;
  desk.current = l;
  markSelected(id);

  $("lv-title").textContent = `来信 #${l.id}`;
  $("lv-overdue").hidden = !l.overdue;
  $("lv-meta").textContent = [`收到 ${fmtTime(l.received_at)}`, `来源 ${SOURCE_NAME[l.source] || l.source}`,
    l.overdue ? `已逾期（应于 ${fmtTime(l.due_at)} 前办结）` : `限 ${fmtTime(l.due_at)} 前办结`].join(" · ");
  $("lv-repeats").textContent = l.repeats > 0 ? `另有 ${l.repeats} 封重复来信（同一事项，按一件处理）` : "";
  $("lv-repeats").hidden = !(l.repeats > 0);
  if (l.text === null || l.text === undefined) {
    $("lv-text").replaceChildren(el("span", "muted", "（正文已按保存期限删除）"));
    $("lv-evidence").replaceChildren();
  } else {
    renderLetter($("lv-text"), $("lv-evidence"), l.text, l.evidence || []);
  }
  $("lv-model-category").textContent =
    `${categoryLabel(l.category, l.char, l.category_name || l.name)} ${pct(l.category_score || 0)}`;
  const source = l.unit_source && l.unit_source !== "none" ? `（${SOURCE_LABEL[l.unit_source] || l.unit_source}）` : "";
  $("lv-model-unit").textContent = `${l.unit_name || unitName(l.unit)} ${pct(l.unit_score || 0)}${source}`;
  const reasons = (l.review_reasons || []).map((x) => REASON_LABEL[x] || x);
  $("lv-reasons").textContent = reasons.length ? reasons.join("、") : "—";

  buildCategoryPicker(l);
  buildUnitPicker(l);
  $("review-note").value = "";
  updateDiff();
  showReviewControls();
  $("letter-view").hidden = false;

  if (focus === "picker") { // narrow screens: the letter takes the list's place
    $("desk").classList.add("reading");
    if (window.matchMedia("(max-width: 700px)").matches) $("letter-view").scrollIntoView({ block: "start" });
  }
  if (focus === "picker" && canReview()) {
    const c = document.querySelector('#cat-options input[name="category"]:checked')
      || document.querySelector('#cat-options input[name="category"]');
    if (c) c.focus({ preventScroll: true });
  } else if (focus === "queue") {
    $("queue").focus({ preventScroll: true });
  }
}

async function submitReview(event) {
  if (event) event.preventDefault();
  const l = desk.current;
  if (!l || desk.busy || !canReview()) return;
  const { category, unit } = chosen();
  if (!category || !unit) {
    deskError("请先选好类别和责任单位。");
    return;
  }
  const corrected = category !== l.category || unit !== l.unit;
  const keepIndex = queueIndex();
  desk.busy = true;
  $("review-btn").disabled = true;
  showError("desk-error", "");
  announce(`正在提交 #${l.id}…`);
  try {
    await api(`/v1/letters/${l.id}/review`, {
      method: "POST", body: { category, unit, note: $("review-note").value.trim(), version: l.version },
    });
    announce(`#${l.id} 已${corrected ? "更正" : "确认"}：${categoryLabel(category)} · ${unitName(unit)}`);
    desk.done.loaded = false;
    desk.current = null;
    await loadQueue({ keepIndex: Math.max(0, keepIndex) });
    loadStats();
  } catch (e) {
    if (e.status === 409) {
      let who = "其他人";
      try {
        const now = await api(`/v1/letters/${l.id}`);
        if (now.review && now.review.by) who = now.review.by;
      } catch { /* keep the generic wording */ }
      announce("");
      desk.current = null;
      await loadQueue({ keepIndex: Math.max(0, keepIndex) });
      deskError(`#${l.id} 已由${who}复核，你的提交没有保存。列表已刷新。`);
      loadStats();
    } else if (e.status === 403) {
      announce("");
      deskError("当前角色不能复核信件（需要复核员或管理员的密钥）。");
    } else {
      announce("");
      deskError(e.message);
    }
  } finally {
    desk.busy = false;
    $("review-btn").disabled = false;
  }
}

// -- the reviewed list ----------------------------------------------------------------------------------------
function doneItem(l) {
  const r = l.review || {};
  const li = el("li", "card done-item");
  const head = el("div", "q-head");
  const corrected = r.corrected ?? (r.category !== l.category || r.unit !== l.unit);
  head.append(el("span", corrected ? "badge corrected" : "badge confirmed", corrected ? "已更正" : "已确认"),
    el("span", "q-id", `#${l.id}`),
    el("span", "muted", `${r.by || "?"} 复核于 ${fmtTime(r.at)} · 来信 ${fmtTime(l.received_at)} · ${SOURCE_NAME[l.source] || l.source}`));
  const final = el("div", "q-labels");
  final.append(el("span", "k", "结论"), el("span", "mini-char", (categoryById(r.category) || {}).char || "？"),
    el("span", "q-cat", categoryLabel(r.category)), el("span", "q-sep", "→"), el("span", "q-unit", unitName(r.unit, r.unit === l.unit ? l.unit_name : undefined)));
  const model = el("div", "model-line small");
  model.append(el("span", "k", "模型"));
  const mc = el(r.category !== l.category ? "del" : "span", null, categoryLabel(l.category, l.char, l.category_name || l.name));
  const mu = el(r.unit !== l.unit ? "del" : "span", null, l.unit_name || unitName(l.unit));
  model.append(mc, el("span", "q-sep", "→"), mu,
    el("span", "muted", `（${pct(l.category_score || 0)} / ${pct(l.unit_score || 0)}）`));
  li.append(head, final, model);
  if (r.note) li.append(el("div", "small note", `备注：${r.note}`));
  if (l.text) {
    li.append(el("div", "q-snippet small", Array.from(maskPii(l.text)).slice(0, 80).join("")
      + (Array.from(l.text).length > 80 ? "…" : "")));
  }
  li.dataset.id = l.id;
  return li;
}

async function loadDone() {
  showError("done-error", "");
  try {
    await loadPickers();
    const r = await api(`/v1/letters?status=reviewed&limit=${PAGE_SIZE}&offset=${desk.done.offset}`);
    Object.assign(desk.done, { items: r.items, total: r.total, loaded: true });
  } catch (e) {
    showError("done-error", e.message);
    if (e.status === 401) $("key-box").open = true;
    return;
  }
  $("done").replaceChildren(...desk.done.items.map(doneItem));
  $("done-empty").hidden = desk.done.items.length > 0;
  renderPager("done", desk.done);
}

async function openDesk() {
  try {
    await loadPickers();
  } catch (e) {
    deskError(e.message);
    return;
  }
  await loadQueue();
  loadStats();
}

function deskKeys(e) {
  if (e.isComposing || e.keyCode === 229) return; // an input method is composing Chinese: not ours
  const inQueue = e.target === $("queue");
  if (e.altKey && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
    e.preventDefault();
    moveInQueue(e.key === "ArrowDown" ? 1 : -1, inQueue ? "queue" : "picker");
  } else if (inQueue && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
    e.preventDefault();
    moveInQueue(e.key === "ArrowDown" ? 1 : -1, "queue");
  } else if (inQueue && (e.key === "Home" || e.key === "End") && desk.queue.items.length) {
    e.preventDefault();
    const items = desk.queue.items;
    openLetter(items[e.key === "Home" ? 0 : items.length - 1].id, { focus: "queue" });
  } else if (inQueue && e.key === "Enter") {
    e.preventDefault();
    if (!desk.current && desk.queue.items.length) openLetter(desk.queue.items[0].id, { focus: "picker" });
    else if (desk.current) openLetter(desk.current.id, { focus: "picker" });
  } else if (e.key === "Enter" && $("review-form").contains(e.target) && !e.ctrlKey && !e.shiftKey) {
    e.preventDefault(); // Enter anywhere in the form (radio, select, note) confirms
    submitReview();
  } else if (e.key === "Escape" && $("letter-view").contains(e.target)) {
    e.preventDefault();
    backToQueue({ focus: true });
  }
}

/** Show the list again (on narrow screens it gives way to the open letter). */
function backToQueue({ focus = false } = {}) {
  $("desk").classList.remove("reading");
  if (focus) {
    $("queue").focus({ preventScroll: true });
    const item = desk.current && $(`q-${desk.current.id}`);
    if (item) item.scrollIntoView({ block: "nearest" });
  }
}

// ---- page -----------------------------------------------------------------------------------------------
const TABS = ["paste", "upload", "queue", "done"];

function selectTab(name, { focus = false } = {}) {
  if (!TABS.includes(name)) name = "paste";
  for (const t of TABS) {
    const tab = $(`tab-${t}`);
    tab.setAttribute("aria-selected", String(t === name));
    tab.tabIndex = t === name ? 0 : -1;
    $(`panel-${t}`).hidden = t !== name;
  }
  if (focus) $(`tab-${name}`).focus();
  if (location.hash !== `#${name}`) history.replaceState(null, "", name === "paste" ? location.pathname : `#${name}`);
  if (name === "queue") openDesk();
  if (name === "done") { loadDone(); loadStats(); }
}

function tabKeys(e) {
  const i = TABS.findIndex((t) => $(`tab-${t}`) === e.target);
  if (i < 0) return;
  const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 }[e.key];
  if (to === undefined) return;
  e.preventDefault();
  selectTab(TABS[(to + TABS.length) % TABS.length], { focus: true });
}

function applyKey() {
  const key = $("api-key");
  if (key.value.trim()) sessionStorage.setItem("triage-api-key", key.value.trim());
  else sessionStorage.removeItem("triage-api-key");
  desk.current = null;
  loadWhoami().then(() => {
    const tab = TABS.find((t) => $(`tab-${t}`).getAttribute("aria-selected") === "true");
    if (tab === "queue" || tab === "done") selectTab(tab);
  });
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
  for (const t of TABS) $(`tab-${t}`).addEventListener("click", () => selectTab(t));
  document.querySelector(".tabs").addEventListener("keydown", tabKeys);

  $("review-form").addEventListener("submit", submitReview);
  $("panel-queue").addEventListener("keydown", deskKeys);
  $("queue-refresh").addEventListener("click", () => { loadQueue(); loadStats(); });
  $("done-refresh").addEventListener("click", () => { loadDone(); loadStats(); });
  $("lv-back").addEventListener("click", () => backToQueue({ focus: true }));
  $("unit-picker").addEventListener("change", updateDiff);
  for (const [prefix, state, load] of [["queue", desk.queue, loadQueue], ["done", desk.done, loadDone]]) {
    $(`${prefix}-prev`).addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); load(); });
    $(`${prefix}-next`).addEventListener("click", () => { state.offset += PAGE_SIZE; load(); });
  }

  const key = $("api-key");
  key.value = sessionStorage.getItem("triage-api-key") || "";
  key.addEventListener("change", applyKey);
  key.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.isComposing) { e.preventDefault(); key.blur(); } });
  checkReady();
  loadWhoami(); // the counters come with the desk's tabs: a service without a letter store has none
  selectTab(location.hash.slice(1) || "paste");
});

// For tests and the console.
window.triagePage = { maskPii };
