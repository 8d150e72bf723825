// The supervisor's dispatch console. Plain modern JavaScript, no build step, no
// third-party code; it talks to the public JSON API (/api/v1) only.
"use strict";

const API = "/api/v1";
const POLL_MS = 3000;           // a new SOS shows within one poll (and a request)
const ZONE = "Asia/Shanghai";   // the service area's zone (HOMECARE_TIMEZONE default)
const PAGE = 100;               // the API's largest page
const AWAITING = ["submitted", "approved", "offered"];
const TERMINAL = ["completed", "cancelled", "expired", "rejected", "no_show"];
const CANCELLABLE = ["submitted", "approved", "offered", "assigned", "en_route"];
const ROUTE_COLOURS = ["#1f6feb", "#d92d20", "#1a7f37", "#8250df", "#bf8700", "#0a8a8a",
  "#c2185b", "#5d4037", "#3f51b5", "#e65100", "#2e7d32", "#6a1b9a"];
const STATUS_COLOURS = {
  submitted: "#e67e22", approved: "#f0a020", offered: "#d35400", assigned: "#1f6feb",
  en_route: "#8250df", in_service: "#0a8a8a", completed: "#7b8794", cancelled: "#b8c2cc",
  expired: "#b8c2cc", rejected: "#b8c2cc", no_show: "#9aa5b1",
};

const I18N = {
  zh: {
    title: "居家护理调度台", login_hint: "请使用主管账号登录", phone: "手机号", password: "密码",
    login: "登录", logout: "退出", lang_switch: "English", tab_board: "调度看板",
    tab_beds: "家庭病床", day: "日期", plan_day: "规划当天路线", planning: "正在规划…",
    alerts: "告警", queue: "待派单", nurses: "在班护士", plan: "路线规划",
    open_beds: "在床病例", open_bed: "开床", recipient: "服务对象", diagnosis: "诊断",
    period: "周期", plan_lines: "护理计划", visits_done: "已完成", visits_missed: "未完成",
    visits_planned: "待上门", ack: "确认", resolve: "解除", acked: "已确认",
    candidates: "候选护士", assign: "指派", reassign: "改派", approve: "通过评估",
    reject: "驳回", cancel: "取消订单", reason: "原因", reason_required: "请填写原因",
    close_improved: "好转", close_transferred: "转院/转诊", close_deceased: "死亡",
    close_expired: "到期", close_other: "其他",
    distance: "距离", eta: "路程", score: "评分", arrival: "预计到达", nurse: "护士",
    explain: "查看排除原因", excluded: "已排除", no_candidates: "暂无符合条件的护士",
    window: "时段", service: "服务项目", address: "地址", status: "状态", history: "状态记录",
    care_record: "护理记录", order: "订单", district: "区域", round: "派单轮次",
    at_risk: "有风险", none: "无", no_alerts: "暂无未处理告警", queue_empty: "没有待派单的订单",
    position_age: "位置", no_position: "无最新定位（显示住址）", load: "当日任务",
    free: "空闲", status_assigned: "已排", status_en_route: "在途", status_in_service: "服务中",
    unplanned: "无法安排", nurses_used: "名护士出诊", travel: "路程", stops: "站", no_plan: "尚未规划当天路线",
    plan_done: "规划完成", assigned_ok: "已指派", done: "已完成", saved: "已保存",
    close_bed: "撤床", summary: "出院小结", submit: "提交", start_date: "开始日期",
    end_date: "结束日期", weekdays: "星期", window_start: "开始", window_end: "结束",
    patient: "服务对象", choose: "请选择", beds_empty: "暂无在床病例", minutes_ago: "分钟前",
    just_now: "刚刚", login_failed: "登录失败：手机号或密码错误", not_supervisor:
      "此账号不是主管账号", session_expired: "登录已过期，请重新登录", vitals: "生命体征",
    procedures: "操作", notes: "备注", service_area: "服务范围", home: "住址",
    hub: "服务中心", route: "路线", system: "系统", open_detail: "详情",
    kind_sos: "SOS 紧急求助", kind_late: "迟到", kind_unassigned: "无人接单",
    kind_geofence: "位置异常", kind_overtime: "超时", kind_no_show: "未上门",
    reason_no_qualified_nurse: "没有符合资质的护士", reason_window_unreachable: "时段内无法到达",
    reason_capacity: "护士工作量已满", reason_nurse_day_changed: "护士日程已变化，请重新规划",
    st_submitted: "待审核", st_approved: "已审核", st_offered: "派单中", st_assigned: "已指派",
    st_en_route: "在途", st_in_service: "服务中", st_completed: "已完成", st_cancelled: "已取消",
    st_expired: "已过期", st_rejected: "已驳回", st_no_show: "未能服务",
    sev_critical: "紧急", sev_high: "高", sev_warning: "提醒",
    wd: ["一", "二", "三", "四", "五", "六", "日"],
  },
  en: {
    title: "Homecare dispatch console", login_hint: "Sign in with a supervisor account",
    phone: "Phone", password: "Password", login: "Sign in", logout: "Sign out",
    lang_switch: "中文", tab_board: "Dispatch board", tab_beds: "Family beds", day: "Day",
    plan_day: "Plan the day", planning: "Planning…", alerts: "Alerts",
    queue: "Waiting for a nurse", nurses: "Nurses on shift", plan: "Routes",
    open_beds: "Open family beds", open_bed: "Open a bed", recipient: "Recipient",
    diagnosis: "Diagnosis", period: "Period", plan_lines: "Care plan", visits_done: "Done",
    visits_missed: "Missed", visits_planned: "Planned", ack: "Acknowledge",
    resolve: "Resolve", acked: "Acknowledged", candidates: "Candidates", assign: "Assign",
    reassign: "Reassign", approve: "Approve", reject: "Reject", cancel: "Cancel order",
    reason: "Reason", reason_required: "A reason is required",
    close_improved: "Improved", close_transferred: "Transferred", close_deceased: "Deceased",
    close_expired: "Expired", close_other: "Other", distance: "Distance",
    eta: "Travel", score: "Score", arrival: "Arrival", nurse: "Nurse",
    explain: "Why excluded?", excluded: "Excluded", no_candidates: "No eligible nurse",
    window: "Window", service: "Service", address: "Address", status: "Status",
    history: "History", care_record: "Care record", order: "Order", district: "District",
    round: "Round", at_risk: "at risk", none: "none", no_alerts: "No open alerts",
    queue_empty: "No order is waiting for a nurse", position_age: "Position",
    no_position: "no fresh ping (home shown)", load: "Visits", free: "free",
    status_assigned: "assigned", status_en_route: "en route", status_in_service: "in service",
    unplanned: "Could not be planned", nurses_used: "nurses out", travel: "travel", stops: "stops",
    no_plan: "The day has not been planned yet", plan_done: "Day planned",
    assigned_ok: "Assigned", done: "Done", saved: "Saved", close_bed: "Close",
    summary: "Discharge summary", submit: "Submit", start_date: "Start", end_date: "End",
    weekdays: "Weekdays", window_start: "From", window_end: "To", patient: "Recipient",
    choose: "Choose…", beds_empty: "No open family bed", minutes_ago: "min ago",
    just_now: "just now", login_failed: "Sign-in failed: wrong phone or password",
    not_supervisor: "This account is not a supervisor", session_expired:
      "Your session expired; please sign in again", vitals: "Vitals",
    procedures: "Procedures", notes: "Notes", service_area: "Service area", home: "home",
    hub: "Centre", route: "Route", system: "system", open_detail: "Details",
    kind_sos: "SOS", kind_late: "Late", kind_unassigned: "Unassigned",
    kind_geofence: "Geofence", kind_overtime: "Overtime", kind_no_show: "No-show",
    reason_no_qualified_nurse: "No qualified nurse",
    reason_window_unreachable: "Window unreachable", reason_capacity: "No capacity left",
    reason_nurse_day_changed: "The nurse's day changed; plan again",
    st_submitted: "submitted", st_approved: "approved", st_offered: "offered",
    st_assigned: "assigned", st_en_route: "en route", st_in_service: "in service",
    st_completed: "completed", st_cancelled: "cancelled", st_expired: "expired",
    st_rejected: "rejected", st_no_show: "no-show",
    sev_critical: "critical", sev_high: "high", sev_warning: "warning",
    wd: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
  },
};

const state = {
  lang: localStorage.getItem("homecare.lang") || "zh",
  day: null, board: null, orders: [], nurses: [], area: null, services: {},
  alerts: [], plan: null, seenSos: new Set(), firstAlerts: true, timer: null,
  view: "board", me: null, detailId: null, expanded: new Set(), patients: {},
};

// ---------- small helpers ----------
const $ = (sel, root = document) => root.querySelector(sel);
const t = (key) => I18N[state.lang][key] ?? I18N.zh[key] ?? key;
const esc = (v) => String(v ?? "").replace(/[&<>"']/g,
  (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const statusName = (s) => t(`st_${s}`);
const serviceName = (code) => {
  const item = state.services[code];
  if (!item) return code;
  return state.lang === "zh" ? item.name_zh : (item.name_en || item.name_zh);
};
const timeFmt = () => new Intl.DateTimeFormat(state.lang === "zh" ? "zh-CN" : "en-GB",
  { timeZone: ZONE, hour: "2-digit", minute: "2-digit", hour12: false });
const hm = (iso) => (iso ? timeFmt().format(new Date(iso)) : "–");
const dateTime = (iso) => (iso ? new Intl.DateTimeFormat(state.lang === "zh" ? "zh-CN" : "en-GB",
  { timeZone: ZONE, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hour12: false }).format(new Date(iso)) : "–");
const statusTag = (s) => `<span class="status" style="background:${STATUS_COLOURS[s] || "#888"}"
  >${esc(statusName(s))}</span>`;

function setHtml(el, html) {
  // Re-render only what changed: a poll that brings nothing new leaves the page alone
  // (no flicker, tooltips and scroll positions stay).
  if (el.dataset.rendered === undefined || el._html !== html) {
    el.innerHTML = html;
    el._html = html;
    el.dataset.rendered = "1";
    return true;
  }
  return false;
}

function toast(message, bad = false) {
  const el = $("#toast");
  el.textContent = message;
  el.className = bad ? "toast bad" : "toast";
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 3500);
}

// ---------- the API, with silent token refresh ----------
class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || `HTTP ${status}`);
    this.status = status; this.body = body;
  }
}

const tokens = {
  get access() { return sessionStorage.getItem("homecare.access"); },
  get refresh() { return sessionStorage.getItem("homecare.refresh"); },
  set(access, refresh) {
    if (access) sessionStorage.setItem("homecare.access", access);
    if (refresh) sessionStorage.setItem("homecare.refresh", refresh);
  },
  clear() {
    sessionStorage.removeItem("homecare.access"); sessionStorage.removeItem("homecare.refresh");
  },
};

let refreshing = null;
async function refreshAccess() {
  // One refresh at a time, shared by every request that met a 401.
  if (!refreshing) {
    refreshing = (async () => {
      const refresh = tokens.refresh;
      if (!refresh) return false;
      const r = await fetch(`${API}/auth/refresh`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: refresh }),
      });
      if (!r.ok) return false;
      const body = await r.json();
      tokens.set(body.access_token, body.refresh_token);  // rotated when the API rotates it
      return true;
    })().finally(() => { setTimeout(() => { refreshing = null; }, 0); });
  }
  return refreshing;
}

async function api(path, { method = "GET", body, raw = false, retry = true } = {}) {
  const headers = { Accept: "application/json" };
  if (tokens.access) headers.Authorization = `Bearer ${tokens.access}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(`${API}${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 401 && retry && tokens.refresh) {
    if (await refreshAccess()) return api(path, { method, body, raw, retry: false });
    sessionExpired();
  }
  if (!r.ok) {
    let problem = null;
    try { problem = await r.json(); } catch { /* not JSON */ }
    throw new ApiError(r.status, problem);
  }
  if (raw) return r;
  return r.status === 204 ? null : r.json();
}

async function apiAll(path) {
  // Every page of a list (the API pages at most 100 at a time).
  const sep = path.includes("?") ? "&" : "?";
  const out = [];
  for (let page = 1; page < 100; page += 1) {
    const r = await api(`${path}${sep}page=${page}&page_size=${PAGE}`, { raw: true });
    const items = await r.json();
    out.push(...items);
    const info = JSON.parse(r.headers.get("X-Pagination") || "{}");
    if (!info.next_page) break;
  }
  return out;
}

function sessionExpired() {
  tokens.clear();
  stopPolling();
  showLogin(t("session_expired"));
}

// ---------- i18n ----------
function applyLang() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  renderAll();
}

function toggleLang() {
  state.lang = state.lang === "zh" ? "en" : "zh";
  localStorage.setItem("homecare.lang", state.lang);
  applyLang();
}

// ---------- login / logout ----------
function showLogin(message = "") {
  $("#app").hidden = true;
  $("#detail").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message;
}

async function login(event) {
  event.preventDefault();
  unlockAudio();
  $("#login-error").textContent = "";
  const phone = $("#phone").value.trim();
  const password = $("#password").value;
  try {
    const r = await api("/auth/login", { method: "POST", body: { phone, password }, retry: false });
    if (r.role !== "supervisor") {
      $("#login-error").textContent = t("not_supervisor");
      return;
    }
    tokens.set(r.access_token, r.refresh_token);
    $("#password").value = "";
    await start();
  } catch (err) {
    $("#login-error").textContent = err.status === 401 || err.status === 422
      ? t("login_failed") : err.message;
  }
}

async function logout() {
  const refresh = tokens.refresh;
  // Revoke the refresh token where the API offers it; leaving works regardless.
  if (refresh) {
    try { await api("/auth/logout", { method: "POST", body: { refresh_token: refresh }, retry: false }); }
    catch { /* older API without /auth/logout, or already expired */ }
  }
  tokens.clear();
  stopPolling();
  state.board = null; state.plan = null; state.day = null;
  showLogin();
}

async function start() {
  state.me = await api("/me");
  if (state.me.role !== "supervisor") { logout(); return; }
  $("#who").textContent = state.me.name;
  $("#login").hidden = true;
  $("#app").hidden = false;
  const [services, area, nurses] = await Promise.all([
    apiAll("/services"),
    api(`/organizations/${state.me.organization_id}`),
    apiAll("/nurses"),
  ]);
  state.services = Object.fromEntries(services.map((s) => [s.code, s]));
  state.area = area;
  state.nurses = nurses;
  await poll();
  await loadPlan();
  startPolling();
}

// ---------- live data ----------
function startPolling() {
  stopPolling();
  state.timer = setInterval(poll, POLL_MS);
}
function stopPolling() { clearInterval(state.timer); state.timer = null; }

let polling = false;
async function poll() {
  if (polling || !tokens.access) return;
  polling = true;
  try {
    const q = state.day ? `?date=${state.day}` : "";
    const [board, open, acked] = await Promise.all([
      api(`/dispatch/board${q}`),
      apiAll("/alerts?status=open"), apiAll("/alerts?status=acknowledged"),
    ]);
    state.board = board;
    if (!state.day) { state.day = board.date; $("#day").value = board.date; }
    // Alerts first: an SOS is shown (and heard) before the day's orders are fetched.
    state.alerts = sortAlerts([...open, ...acked]);
    announceSos();
    if (state.view === "board") renderAlerts();
    state.orders = await apiAll(`/orders?date=${board.date}`);
    $("#live").className = "live ok";
    $("#live").title = dateTime(board.now);
    if (state.view === "board") renderBoard();
  } catch (err) {
    $("#live").className = "live down";
    if (err.status !== 401) console.warn("poll failed", err);
  } finally {
    polling = false;
  }
}

const SEVERITY_RANK = { critical: 0, high: 1, warning: 2 };
function sortAlerts(alerts) {
  return alerts.sort((a, b) => (b.kind === "sos") - (a.kind === "sos")
    || (a.status === "acknowledged") - (b.status === "acknowledged")
    || (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3)
    || b.raised_at.localeCompare(a.raised_at) || b.id - a.id);
}

// ---------- sound: a WebAudio beep for every new SOS ----------
let audio = null;
function unlockAudio() {
  // Browsers start audio only after a user gesture: the sign-in click is one.
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === "suspended") audio.resume();
  } catch { audio = null; }
}

function beep() {
  if (!audio) return;
  const now = audio.currentTime;
  for (let i = 0; i < 3; i += 1) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "square";
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, now + i * 0.3);
    gain.gain.exponentialRampToValueAtTime(0.001, now + i * 0.3 + 0.22);
    osc.connect(gain).connect(audio.destination);
    osc.start(now + i * 0.3);
    osc.stop(now + i * 0.3 + 0.25);
  }
}

function announceSos() {
  const sos = state.alerts.filter((a) => a.kind === "sos" && a.status === "open");
  const fresh = sos.filter((a) => !state.seenSos.has(a.id));
  sos.forEach((a) => state.seenSos.add(a.id));
  if (fresh.length) {
    beep();
    document.body.dataset.sosBeeps = String(Number(document.body.dataset.sosBeeps || 0) + 1);
  }
}

// ---------- rendering: the board ----------
function renderAll() {
  if ($("#app").hidden) return;
  if (state.view === "board") renderBoard(); else renderBeds();
  if (state.detailId) openDetail(state.detailId);
}

function renderBoard() {
  if (!state.board) return;
  renderCounts();
  renderAlerts();
  renderQueue();
  renderNurses();
  renderPlan();
  renderMap();
}

function renderCounts() {
  const counts = state.board.counts;
  setHtml($("#counts"), Object.keys(STATUS_COLOURS).map((s) => `<div class="count"
    data-status="${s}" style="border-top:3px solid ${STATUS_COLOURS[s]}"><b>${counts[s] ?? 0}</b>
    <span>${esc(statusName(s))}</span></div>`).join(""));
}

function alertWords(a) {
  const nurse = a.nurse_id ? nurseName(a.nurse_id) : "";
  const order = a.order_id ? `${t("order")} #${a.order_id}` : "";
  return [nurse, order].filter(Boolean).join(" · ");
}

function renderAlerts() {
  const list = state.alerts;
  $("#alert-count").textContent = list.length;
  const sosOpen = list.filter((a) => a.kind === "sos" && a.status === "open").length;
  const banner = sosOpen ? `<li class="sos-banner" id="sos-banner">SOS × ${sosOpen}</li>` : "";
  setHtml($("#alerts"), banner + (list.length ? list.map((a) => `
    <li class="alert-item kind-${a.kind} sev-${a.severity} ${a.status}" data-alert-id="${a.id}"
        data-kind="${a.kind}" data-status="${a.status}">
      <div><span class="kind">${esc(t(`kind_${a.kind}`))}</span>
        <span class="muted">${esc(t(`sev_${a.severity}`))} · ${hm(a.raised_at)}</span><br>
        ${esc(alertWords(a))}${a.detail ? `<br><span class="muted">${esc(a.detail)}</span>` : ""}
        ${a.status === "acknowledged" ? `<br><span class="muted">${esc(t("acked"))}</span>` : ""}
      </div>
      <div class="actions">
        ${a.order_id ? `<button class="open-order" data-order-id="${a.order_id}">${esc(t("open_detail"))}</button>` : ""}
        ${a.status === "open" ? `<button class="ack primary" data-alert-id="${a.id}">${esc(t("ack"))}</button>` : ""}
        <button class="resolve" data-alert-id="${a.id}">${esc(t("resolve"))}</button>
      </div>
    </li>`).join("") : `<li class="muted">${esc(t("no_alerts"))}</li>`));
}

function openUnassignedAlertOrders() {
  return new Set(state.alerts.filter((a) => a.kind === "unassigned" && a.order_id)
    .map((a) => a.order_id));
}

function queueOrders() {
  // At risk first (an open "unassigned" alert, or the window opens within the hour),
  // then by window start: the board already sends them by window.
  const alerted = openUnassignedAlertOrders();
  const now = Date.parse(state.board.now);
  const rows = state.board.unassigned.map((o) => ({
    ...o, risk: alerted.has(o.id) || Date.parse(o.window_start) - now < 3600e3,
  }));
  return rows.sort((a, b) => (b.risk - a.risk)
    || a.window_start.localeCompare(b.window_start) || a.id - b.id);
}

function renderQueue() {
  const rows = queueOrders();
  $("#queue-count").textContent = rows.length;
  const changed = setHtml($("#queue"), rows.length ? rows.map((o) => `
    <li class="queue-item ${o.risk ? "risk" : ""}" data-order-id="${o.id}">
      <div class="row1"><b>#${o.id} ${esc(serviceName(o.service_code))}</b>${statusTag(o.status)}</div>
      <div class="muted">${hm(o.window_start)}–${hm(o.window_end)} · ${esc(o.district || "")}
        · ${esc(t("round"))} ${o.dispatch_round}
        ${o.risk ? ` · <b style="color:var(--red)">${esc(t("at_risk"))}</b>` : ""}</div>
      <button class="show-cands link" data-order-id="${o.id}">${esc(t("candidates"))} ▾</button>
      <div class="cands" id="cands-${o.id}" ${state.expanded.has(o.id) ? "" : "hidden"}></div>
    </li>`).join("") : `<li class="muted">${esc(t("queue_empty"))}</li>`);
  state.expanded.forEach((id) => {
    if (!rows.some((o) => o.id === id)) state.expanded.delete(id);
    else if (changed) loadCandidates(id, $(`#cands-${id}`), 3);
  });
}

function nurseName(id) {
  const n = state.nurses.find((x) => x.id === id)
    || state.board?.nurses.find((x) => x.nurse_id === id);
  return n ? n.name : `${t("nurse")} #${id}`;
}

function nurseStatus(nurseId) {
  const mine = state.orders.filter((o) => o.nurse_id === nurseId);
  if (mine.some((o) => o.status === "in_service")) return "status_in_service";
  if (mine.some((o) => o.status === "en_route")) return "status_en_route";
  if (mine.some((o) => o.status === "assigned")) return "status_assigned";
  return "free";
}

function ageText(iso) {
  const minutes = Math.round((Date.parse(state.board.now) - Date.parse(iso)) / 60000);
  return minutes < 1 ? t("just_now") : `${minutes} ${t("minutes_ago")}`;
}

function routeColour(nurseId) {
  const routes = state.plan ? state.plan.routes.filter((r) => r.stops.length) : [];
  const i = routes.findIndex((r) => r.nurse_id === nurseId);
  return i < 0 ? null : ROUTE_COLOURS[i % ROUTE_COLOURS.length];
}

function renderNurses() {
  setHtml($("#nurses"), state.board.nurses.map((n) => {
    const status = nurseStatus(n.nurse_id);
    const colour = routeColour(n.nurse_id) || (status === "free" ? "#3ebd93" : "#1f6feb");
    const where = n.position ? `${t("position_age")} ${ageText(n.position.at)}` : t("no_position");
    return `<li data-nurse-id="${n.nurse_id}"><span class="dot" style="background:${colour}"></span>
      <b>${esc(n.name)}</b><span>${esc(t(status))}</span>
      <span class="sub">${esc(t("load"))} ${n.load}/${n.max_visits_per_day} · ${esc(where)}</span></li>`;
  }).join(""));
}

// ---------- the map: SVG in GCJ-02, projected around the service area's centre ----------
function projector(width, height, places) {
  // Equirectangular around the service area's centre (fine at a city's scale), framed
  // on what there is to see: the orders and nurses, or else the whole service area.
  const c = gcj(state.area.center);
  const kx = 111.32 * Math.cos((c.lat * Math.PI) / 180);   // km per degree of longitude
  const ky = 110.57;                                       // km per degree of latitude
  const km = (p) => [(p.lng - c.lng) * kx, (p.lat - c.lat) * ky];
  const r = state.area.radius_km;
  let [x0, y0, x1, y1] = [-r, -r, r, r];
  if (places.length) {
    const pts = [[0, 0], ...places.map(km)];
    x0 = Math.min(...pts.map((p) => p[0])) - 1.5; x1 = Math.max(...pts.map((p) => p[0])) + 1.5;
    y0 = Math.min(...pts.map((p) => p[1])) - 1.5; y1 = Math.max(...pts.map((p) => p[1])) + 1.5;
  }
  const pad = 14;
  const scale = Math.min((width - 2 * pad) / (x1 - x0), (height - 2 * pad) / (y1 - y0));  // px per km
  const mx = (x0 + x1) / 2; const my = (y0 + y1) / 2;
  return {
    scale,
    xy: (p) => {
      const [x, y] = km(p);
      return [width / 2 + (x - mx) * scale, height / 2 - (y - my) * scale];
    },
  };
}

const gcj = (place) => (place ? place.gcj02 || place : null);

function renderMap() {
  const box = $("#map");
  const width = Math.max(box.clientWidth, 300);
  const height = Math.max(box.clientHeight, 300);
  const orderById = new Map(state.orders.map((o) => [o.id, o]));
  const nursePlace = (id) => {
    const b = state.board.nurses.find((n) => n.nurse_id === id);
    if (b && b.position) return gcj(b.position);
    const n = state.nurses.find((x) => x.id === id);
    return n ? gcj(n.home) : null;
  };
  const places = [...state.orders.map((o) => gcj(o.address)),
    ...state.board.nurses.map((n) => nursePlace(n.nurse_id))].filter(Boolean);
  const { scale, xy } = projector(width, height, places);
  const centre = xy(gcj(state.area.center));
  const parts = [];
  parts.push(`<rect width="${width}" height="${height}" fill="#eef3f8"/>`);
  parts.push(`<circle class="area" cx="${centre[0]}" cy="${centre[1]}" r="${state.area.radius_km * scale}"
    fill="#fff" stroke="#9fb3c8" stroke-dasharray="6 4"><title>${esc(t("service_area"))} ${state.area.radius_km} km</title></circle>`);
  for (let km = 5; km < state.area.radius_km; km += 5) {
    parts.push(`<circle cx="${centre[0]}" cy="${centre[1]}" r="${km * scale}" fill="none" stroke="#e3e8ef"/>`);
    parts.push(`<text x="${centre[0] + 3}" y="${centre[1] - km * scale - 3}" font-size="10" fill="#9aa5b1">${km} km</text>`);
  }
  // The scale bar: 5 km.
  parts.push(`<g transform="translate(14 ${height - 16})"><line x2="${5 * scale}" stroke="#52606d" stroke-width="2"/>
    <text y="-4" font-size="10" fill="#52606d">5 km</text></g>`);
  parts.push(`<g class="hub"><rect x="${centre[0] - 6}" y="${centre[1] - 6}" width="12" height="12" fill="#102a43" rx="2">
    <title>${esc(t("hub"))}: ${esc(state.area.name)}</title></rect></g>`);
  // Planned routes, each nurse in her own colour: from where she is (or home) through her stops.
  if (state.plan) {
    state.plan.routes.filter((r) => r.stops.length).forEach((route, i) => {
      const colour = ROUTE_COLOURS[i % ROUTE_COLOURS.length];
      const points = [nursePlace(route.nurse_id),
        ...route.stops.map((s) => gcj(orderById.get(s.order_id)?.address))].filter(Boolean);
      if (points.length < 2) return;
      parts.push(`<polyline class="route-line" data-nurse-id="${route.nurse_id}" fill="none"
        stroke="${colour}" stroke-width="2.5" stroke-opacity=".85" stroke-linejoin="round"
        points="${points.map((p) => xy(p).map((v) => v.toFixed(1)).join(",")).join(" ")}">
        <title>${esc(route.nurse_name)}: ${route.stops.length} ${esc(t("stops"))}</title></polyline>`);
    });
  }
  state.orders.forEach((o) => {
    const p = gcj(o.address);
    if (!p) return;
    const [x, y] = xy(p);
    const awaiting = AWAITING.includes(o.status);
    parts.push(`<circle class="order-dot" data-order-id="${o.id}" cx="${x.toFixed(1)}" cy="${y.toFixed(1)}"
      r="${awaiting ? 6 : 5}" fill="${STATUS_COLOURS[o.status]}" stroke="#fff" stroke-width="1.5">
      <title>#${o.id} ${esc(serviceName(o.service_code))} · ${esc(o.recipient?.name || "")} · ${hm(o.window_start)}–${hm(o.window_end)} · ${esc(statusName(o.status))}${o.nurse_name ? ` · ${esc(o.nurse_name)}` : ""}</title></circle>`);
  });
  state.board.nurses.forEach((n) => {
    const fresh = Boolean(n.position);
    const p = nursePlace(n.nurse_id);
    if (!p) return;
    const [x, y] = xy(p);
    const colour = routeColour(n.nurse_id) || "#1a7f37";
    parts.push(`<path class="nurse-mark" data-nurse-id="${n.nurse_id}" d="M${x.toFixed(1)} ${(y - 8).toFixed(1)} l7 12 h-14 z"
      fill="${fresh ? colour : "#fff"}" stroke="${colour}" stroke-width="2">
      <title>${esc(n.name)} · ${esc(t(nurseStatus(n.nurse_id)))} · ${n.load}/${n.max_visits_per_day}${fresh ? ` · ${esc(ageText(n.position.at))}` : ` · ${esc(t("home"))}`}</title></path>`);
  });
  setHtml(box, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}"
    role="img" aria-label="map">${parts.join("")}</svg>`);
  setHtml($("#legend"), ["offered", "assigned", "en_route", "in_service", "completed"]
    .map((s) => `<span><i style="background:${STATUS_COLOURS[s]}"></i>${esc(statusName(s))}</span>`)
    .join("") + `<span>▲ ${esc(t("nurse"))}</span><span>■ ${esc(t("hub"))}</span>`);
}

// ---------- plan the day ----------
async function loadPlan() {
  try { state.plan = await api(`/dispatch/plan?date=${state.day}`); }
  catch (err) { if (err.status === 404) state.plan = null; else throw err; }
  renderBoard();
}

async function planDay() {
  const button = $("#plan-btn");
  button.disabled = true;
  button.textContent = t("planning");
  try {
    state.plan = await api(`/dispatch/plan?date=${state.day}`, { method: "POST" });
    showPane("plan-pane");
    toast(`${t("plan_done")}: ${state.plan.stats.planned}/${state.plan.stats.orders}`);
    await poll();
    renderBoard();
  } catch (err) {
    toast(err.message, true);
  } finally {
    button.disabled = false;
    button.textContent = t("plan_day");
  }
}

function renderPlan() {
  const plan = state.plan;
  const el = $("#plan");
  if (!plan) { setHtml(el, `<p class="muted">${esc(t("no_plan"))}</p>`); return; }
  const routes = plan.routes.filter((r) => r.stops.length);
  setHtml(el, `<p class="muted">${dateTime(plan.created_at)} · ${plan.stats.planned}/${plan.stats.orders}
      · ${plan.stats.nurses_used} ${esc(t("nurses_used"))}</p>
    ${routes.map((r, i) => `<div class="route" data-nurse-id="${r.nurse_id}"
        style="border-left-color:${ROUTE_COLOURS[i % ROUTE_COLOURS.length]}">
      <b>${esc(r.nurse_name)}</b> <span class="muted">${r.stops.length} ${esc(t("stops"))} ·
        ${esc(t("travel"))} ${Math.round(r.travel_min)} min · ${r.distance_km.toFixed(1)} km</span>
      <ol>${r.stops.map((s) => `<li><a href="#" class="open-order" data-order-id="${s.order_id}">
        ${hm(s.planned_arrival)} #${s.order_id}</a> ${esc(serviceName(s.service_code))}</li>`).join("")}</ol>
    </div>`).join("")}
    ${plan.unplanned.length ? `<h2>${esc(t("unplanned"))} <span class="badge">${plan.unplanned.length}</span></h2>
      <ul class="unplanned">${plan.unplanned.map((u) => `<li data-order-id="${u.order_id}">
        <a href="#" class="open-order" data-order-id="${u.order_id}">#${u.order_id}</a>
        ${esc(t(`reason_${u.reason}`))}</li>`).join("")}</ul>` : ""}`);
}

function showPane(id) {
  document.querySelectorAll(".subtab").forEach((b) => b.classList.toggle("active", b.dataset.pane === id));
  document.querySelectorAll(".pane").forEach((p) => { p.hidden = p.id !== id; });
}

// ---------- candidates (queue rows and the order detail) ----------
async function loadCandidates(orderId, el, limit = null, canAssign = true, verb = "assign") {
  if (!el) return;
  try {
    const all = await apiAll(`/orders/${orderId}/candidates`);
    const rows = limit ? all.slice(0, limit) : all;
    el.innerHTML = rows.length ? `<table class="table candidates"><thead><tr>
        <th>${esc(t("nurse"))}</th><th class="num">${esc(t("distance"))}</th>
        <th class="num">${esc(t("eta"))}</th><th class="num">${esc(t("score"))}</th>
        <th>${esc(t("arrival"))}</th><th></th></tr></thead><tbody>
      ${rows.map((c) => `<tr class="candidate" data-nurse-id="${c.nurse_id}">
        <td>${esc(c.name)}${c.offer_status ? ` <span class="muted">(${esc(c.offer_status)})</span>` : ""}</td>
        <td class="num">${c.distance_km?.toFixed(1)} km</td><td class="num">${Math.round(c.eta_min)} min</td>
        <td class="num" title="travel ${c.score_parts.travel} · continuity ${c.score_parts.continuity} · balance ${c.score_parts.balance} · rating ${c.score_parts.rating}">
          ${c.score.toFixed(2)}<div class="parts">${scoreParts(c.score_parts)}</div></td>
        <td>${hm(c.planned_arrival)}</td>
        <td>${canAssign ? `<button class="assign primary" data-order-id="${orderId}"
          data-nurse-id="${c.nurse_id}">${esc(t(verb))}</button>` : ""}</td></tr>`).join("")}
      </tbody></table>` : `<p class="muted">${esc(t("no_candidates"))}</p>`;
    return all;
  } catch (err) {
    el.innerHTML = `<p class="error">${esc(err.message)}</p>`;
    return [];
  }
}

function scoreParts(p) {
  const names = state.lang === "zh"
    ? { travel: "路程", continuity: "连续", balance: "均衡", rating: "好评" }
    : { travel: "travel", continuity: "continuity", balance: "balance", rating: "rating" };
  return Object.keys(names).map((k) => `${names[k]} ${Number(p[k]).toFixed(2)}`).join(" · ");
}

async function assign(orderId, nurseId) {
  try {
    await api(`/orders/${orderId}/assign`, { method: "POST", body: { nurse_id: nurseId } });
    toast(`${t("assigned_ok")}: #${orderId} → ${nurseName(nurseId)}`);
    state.expanded.delete(orderId);
    await poll();
    if (state.detailId === orderId) openDetail(orderId);
  } catch (err) {
    toast(err.body?.rule ? `${err.message} (${err.body.rule})` : err.message, true);
  }
}

// ---------- order detail ----------
async function openDetail(orderId) {
  state.detailId = orderId;
  const body = $("#detail-body");
  $("#detail").hidden = false;
  let order; let events;
  try {
    [order, events] = await Promise.all([api(`/orders/${orderId}`), api(`/orders/${orderId}/events`)]);
  } catch (err) {
    body.innerHTML = `<p class="error">${esc(err.message)}</p>`;
    return;
  }
  if (state.detailId !== orderId) return;
  const awaiting = AWAITING.includes(order.status);
  const canAssign = awaiting || order.status === "assigned";
  const a = order.address || {};
  body.innerHTML = `
    <h3 id="detail-title" data-order-id="${order.id}">${esc(t("order"))} #${order.id}
      ${esc(serviceName(order.service_code))} ${statusTag(order.status)}</h3>
    <dl class="facts">
      <dt>${esc(t("recipient"))}</dt><dd>${esc(order.recipient?.name || "–")}
        <span class="muted">${esc(order.recipient?.phone || "")}</span></dd>
      <dt>${esc(t("window"))}</dt><dd>${dateTime(order.window_start)}–${hm(order.window_end)}</dd>
      <dt>${esc(t("address"))}</dt><dd>${esc(a.text || "–")}</dd>
      <dt>${esc(t("nurse"))}</dt><dd>${esc(order.nurse_name || "–")}
        ${order.planned_arrival ? ` · ${esc(t("arrival"))} ${hm(order.planned_arrival)}` : ""}</dd>
      <dt>${esc(t("service"))}</dt><dd>${esc(serviceName(order.service_code))} · ${order.duration_min} min
        · ¥${(order.price_fen / 100).toFixed(2)}</dd>
      <dt>${esc(t("notes"))}</dt><dd>${esc(order.notes || "–")}</dd>
    </dl>
    <div class="actions-bar">
      ${order.status === "submitted" ? `<button id="approve-btn" class="primary">${esc(t("approve"))}</button>
        <button id="reject-btn">${esc(t("reject"))}</button>` : ""}
      ${CANCELLABLE.includes(order.status) ? `<button id="cancel-btn" class="danger">${esc(t("cancel"))}</button>` : ""}
      ${order.status === "submitted" || CANCELLABLE.includes(order.status)
        ? `<input id="action-reason" placeholder="${esc(t("reason"))}">` : ""}
    </div>
    ${canAssign ? `<h4>${esc(t("candidates"))}</h4><div id="detail-cands">…</div>
      <div class="actions-bar"><select id="explain-nurse"><option value="">${esc(t("explain"))}</option></select>
      <span id="explain-out" class="muted"></span></div>` : ""}
    ${order.status === "completed" ? `<h4>${esc(t("care_record"))}</h4><div id="care-record">…</div>` : ""}
    <h4>${esc(t("history"))}</h4>
    <ul class="events">${events.map((e) => `<li>${dateTime(e.at)} <b>${esc(statusName(e.to_status))}</b>
      · ${esc(e.actor_role === "system" ? t("system") : e.actor_role)}${e.reason ? ` · ${esc(e.reason)}` : ""}</li>`).join("")}</ul>`;
  if (canAssign) {
    const cands = await loadCandidates(order.id, $("#detail-cands"), null, true,
      order.status === "assigned" ? "reassign" : "assign");
    const listed = new Set(cands.map((c) => c.nurse_id));
    $("#explain-nurse").innerHTML += state.nurses.filter((n) => !listed.has(n.id) && n.active)
      .map((n) => `<option value="${n.id}">${esc(n.name)} #${n.id}</option>`).join("");
  }
  if (order.status === "completed") {
    try {
      const rec = await api(`/orders/${order.id}/care-record`);
      $("#care-record").innerHTML = `<p>${esc(t("vitals"))}: ${esc(JSON.stringify(rec.vitals || {}))}<br>
        ${esc(t("procedures"))}: ${esc((rec.procedures || []).map((p) => p.name).join(", "))}<br>
        ${esc(t("notes"))}: ${esc(rec.notes || "–")}</p>`;
    } catch (err) { $("#care-record").textContent = err.message; }
  }
}

async function explainNurse(orderId, nurseId) {
  const out = $("#explain-out");
  try {
    const [c] = await api(`/orders/${orderId}/candidates?explain=${nurseId}`);
    out.textContent = c.eligible ? `${c.name}: ${t("score")} ${c.score?.toFixed(2)}`
      : `${c.name}: ${t("excluded")} — ${c.excluded_by}${c.reason ? ` (${c.reason})` : ""}`;
  } catch (err) { out.textContent = err.message; }
}

async function orderAction(kind) {
  const id = state.detailId;
  const reason = $("#action-reason")?.value.trim() || null;
  if (kind === "reject" && !reason) { toast(t("reason_required"), true); return; }
  try {
    await api(`/orders/${id}/${kind}`, { method: "POST", body: reason ? { reason } : {} });
    toast(t("done"));
    await poll();
    openDetail(id);
  } catch (err) { toast(err.message, true); }
}

function closeDetail() { state.detailId = null; $("#detail").hidden = true; }

async function alertAction(id, kind) {
  try {
    await api(`/alerts/${id}/${kind}`, { method: "POST", body: kind === "resolve" ? {} : undefined });
    await poll();
  } catch (err) { toast(err.message, true); }
}

// ---------- family beds ----------
const MISSED = ["no_show", "expired", "cancelled", "rejected"];
// The closed set of reasons an episode ends for (family_beds.models.CLOSE_REASONS).
const CLOSE_REASONS = ["improved", "transferred", "deceased", "expired", "other"];

async function renderBeds() {
  const tbody = $("#beds-body");
  let beds;
  try { beds = await apiAll("/family-beds?status=open"); }
  catch (err) { tbody.innerHTML = `<tr><td colspan="9" class="error">${esc(err.message)}</td></tr>`; return; }
  const details = await Promise.all(beds.map((b) => api(`/family-beds/${b.id}`)));
  await Promise.all(details.map(async (b) => {
    if (!state.patients[b.patient_id]) {
      try { state.patients[b.patient_id] = await api(`/patients/${b.patient_id}`); }
      catch { state.patients[b.patient_id] = { name: `#${b.patient_id}` }; }
    }
  }));
  const wd = t("wd");
  tbody.innerHTML = details.length ? details.map((b) => {
    const visits = b.visits || [];
    // The API's own counts (visit_counts) win over counting the visits here.
    const counts = b.visit_counts || {};
    const done = counts.done ?? visits.filter((v) => v.status === "completed").length;
    const missed = counts.missed !== undefined ? counts.missed + (counts.no_show || 0)
      : visits.filter((v) => MISSED.includes(v.status)).length;
    const planned = counts.planned ?? visits.filter((v) => !TERMINAL.includes(v.status)).length;
    return `<tr class="bed" data-bed-id="${b.id}"><td>${b.id}</td>
      <td>${esc(state.patients[b.patient_id]?.name)}</td><td>${esc(b.diagnosis)}</td>
      <td>${b.start_date} – ${b.end_date}</td>
      <td>${b.plan.map((l) => `${esc(serviceName(l.service_code))}
        <span class="muted">${l.weekdays.map((d) => wd[d - 1]).join("/")} ${l.window_start}–${l.window_end}</span>`).join("<br>")}</td>
      <td class="num done">${done}</td><td class="num missed">${missed}</td><td class="num planned">${planned}</td>
      <td><button class="close-bed" data-bed-id="${b.id}">${esc(t("close_bed"))}</button>
        <div class="close-form" id="close-${b.id}" hidden>
          <select class="close-reason">${CLOSE_REASONS.map((r) =>
            `<option value="${r}">${esc(t(`close_${r}`))}</option>`).join("")}</select>
          <input class="close-summary" placeholder="${esc(t("summary"))}">
          <button class="close-submit danger" data-bed-id="${b.id}">${esc(t("submit"))}</button></div></td></tr>`;
  }).join("") : `<tr><td colspan="9" class="muted">${esc(t("beds_empty"))}</td></tr>`;
}

async function closeBed(id) {
  const row = $(`#close-${id}`);
  const reason = row.querySelector(".close-reason").value.trim();
  const summary = row.querySelector(".close-summary").value.trim();
  if (!reason || !summary) { toast(t("reason_required"), true); return; }
  try {
    await api(`/family-beds/${id}/close`, { method: "POST", body: { reason, summary } });
    toast(t("done"));
    renderBeds();
  } catch (err) { toast(err.message, true); }
}

async function showBedForm() {
  const form = $("#bed-form");
  if (!form.hidden) { form.hidden = true; return; }
  const patients = await apiAll("/patients");
  const services = Object.values(state.services);
  const wd = t("wd");
  form.innerHTML = `
    <label class="wide">${esc(t("patient"))}<select name="patient_id" required>
      <option value="">${esc(t("choose"))}</option>
      ${patients.map((p) => `<option value="${p.id}">${esc(p.name)} #${p.id}</option>`).join("")}</select></label>
    <label class="wide">${esc(t("address"))}<select name="address_id" required></select></label>
    <label class="wide">${esc(t("diagnosis"))}<input name="diagnosis" required maxlength="500"></label>
    <label>${esc(t("start_date"))}<input name="start_date" type="date" required value="${state.day}"></label>
    <label>${esc(t("end_date"))}<input name="end_date" type="date" required></label>
    <label class="wide">${esc(t("service"))}<select name="service_code" required>
      ${services.map((s) => `<option value="${s.code}">${esc(serviceName(s.code))}</option>`).join("")}</select></label>
    <div class="weekdays wide">${esc(t("weekdays"))}
      ${wd.map((d, i) => `<label><input type="checkbox" name="wd" value="${i + 1}" ${i % 2 === 0 && i < 5 ? "checked" : ""}>${esc(d)}</label>`).join("")}</div>
    <label>${esc(t("window_start"))}<input name="window_start" type="time" value="09:00" required></label>
    <label>${esc(t("window_end"))}<input name="window_end" type="time" value="11:00" required></label>
    <div><button type="submit" class="primary">${esc(t("submit"))}</button></div>`;
  form.hidden = false;
  form.elements.patient_id.onchange = async () => {
    const id = form.elements.patient_id.value;
    const addresses = id ? await apiAll(`/patients/${id}/addresses`) : [];
    form.elements.address_id.innerHTML = addresses.map((a) =>
      `<option value="${a.id}">${esc(a.label)} · ${esc(a.text)}</option>`).join("");
  };
}

async function submitBed(event) {
  event.preventDefault();
  const f = event.target.elements;
  const weekdays = [...event.target.querySelectorAll("input[name=wd]:checked")].map((c) => Number(c.value));
  try {
    await api("/family-beds", { method: "POST", body: {
      patient_id: Number(f.patient_id.value), address_id: Number(f.address_id.value),
      diagnosis: f.diagnosis.value, start_date: f.start_date.value, end_date: f.end_date.value,
      plan: [{ service_code: f.service_code.value, weekdays,
        window_start: f.window_start.value, window_end: f.window_end.value }],
    } });
    toast(t("saved"));
    event.target.hidden = true;
    renderBeds();
  } catch (err) {
    const fields = err.body?.errors ? ` ${JSON.stringify(err.body.errors)}` : "";
    toast(err.message + fields, true);
  }
}

function showView(view) {
  state.view = view;
  document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
  $("#board").hidden = view !== "board";
  $("#beds").hidden = view !== "beds";
  if (view === "beds") renderBeds(); else renderBoard();
}

// ---------- wiring ----------
function wire() {
  $("#login-form").addEventListener("submit", login);
  document.querySelectorAll(".lang-btn").forEach((b) => b.addEventListener("click", toggleLang));
  $("#logout-btn").addEventListener("click", logout);
  $("#plan-btn").addEventListener("click", planDay);
  $("#detail-close").addEventListener("click", closeDetail);
  $("#detail").addEventListener("click", (e) => { if (e.target.id === "detail") closeDetail(); });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeDetail(); });
  $("#day").addEventListener("change", async (e) => {
    state.day = e.target.value || null;
    state.expanded.clear();
    await poll();
    await loadPlan();
  });
  document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => showView(b.dataset.view)));
  document.querySelectorAll(".subtab").forEach((b) => b.addEventListener("click", () => showPane(b.dataset.pane)));
  $("#bed-new-btn").addEventListener("click", showBedForm);
  $("#bed-form").addEventListener("submit", submitBed);
  document.addEventListener("click", (e) => {
    unlockAudio();
    const el = e.target.closest("button, a, .queue-item, .order-dot");
    if (!el) return;
    const orderId = Number(el.dataset.orderId);
    if (el.classList.contains("assign")) { assign(orderId, Number(el.dataset.nurseId)); }
    else if (el.classList.contains("show-cands")) {
      const box = $(`#cands-${orderId}`);
      box.hidden = !box.hidden;
      if (box.hidden) state.expanded.delete(orderId);
      else { state.expanded.add(orderId); box.textContent = "…"; loadCandidates(orderId, box, 3); }
    } else if (el.classList.contains("ack")) alertAction(Number(el.dataset.alertId), "ack");
    else if (el.classList.contains("resolve")) alertAction(Number(el.dataset.alertId), "resolve");
    else if (el.classList.contains("open-order") || el.classList.contains("order-dot")
      || el.classList.contains("queue-item")) { e.preventDefault(); openDetail(orderId); }
    else if (el.id === "approve-btn") orderAction("approve");
    else if (el.id === "reject-btn") orderAction("reject");
    else if (el.id === "cancel-btn") orderAction("cancel");
    else if (el.classList.contains("close-bed")) { const f = $(`#close-${el.dataset.bedId}`); f.hidden = !f.hidden; }
    else if (el.classList.contains("close-submit")) closeBed(Number(el.dataset.bedId));
  });
  document.addEventListener("change", (e) => {
    if (e.target.id === "explain-nurse" && e.target.value) explainNurse(state.detailId, Number(e.target.value));
  });
  window.addEventListener("resize", () => { if (state.board && state.view === "board") renderMap(); });
}

wire();
applyLang();
if (tokens.access || tokens.refresh) start().catch(() => showLogin());
else showLogin();
