// The demo storefront's shared code: the dev login, API calls and the page header.
// Talks to the same endpoints as the original tutorial's frontend (POST /order/pay/,
// GET /order/success/) plus the order service's /api/v1.
"use strict";

const TOKEN_KEY = "coursepay.token";
const USER_KEY = "coursepay.user";

const session = {
  token: () => localStorage.getItem(TOKEN_KEY),
  user: () => localStorage.getItem(USER_KEY),
  save(token, user) {
    localStorage.setItem(TOKEN_KEY, token);
    localStorage.setItem(USER_KEY, String(user));
  },
  clear() {
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(USER_KEY);
  },
};

// Calls the API with the stored token (in the original frontend's `jwt <token>` form) and
// returns the parsed JSON body, or throws an Error carrying the server's message.
async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  const token = session.token();
  if (token) headers.Authorization = `jwt ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let payload = null;
  try {
    payload = await response.json();
  } catch (_) {
    payload = null;
  }
  if (response.status === 401) {
    session.clear();
    renderHeader();
  }
  if (!response.ok) {
    const message = (payload && (payload.msg || payload.message)) || `HTTP ${response.status}`;
    const error = new Error(message);
    error.status = response.status;
    error.payload = payload;
    throw error;
  }
  return payload;
}

// The header: links and the dev login (local mode mints a token for any user id).
function renderHeader() {
  const header = document.querySelector("header");
  if (!header) return;
  const user = session.user();
  header.innerHTML = `
    <h1>Course shop</h1>
    <nav><a href="/">Courses</a><a href="/orders">My orders</a></nav>
    <div id="login"></div>`;
  const login = header.querySelector("#login");
  if (user) {
    login.innerHTML = `<span class="muted">user ${escapeHtml(user)}</span>
      <button class="secondary" id="logout">Log out</button>`;
    login.querySelector("#logout").onclick = () => {
      session.clear();
      location.reload();
    };
  } else {
    login.innerHTML = `<input id="user-id" type="number" min="1" value="1" aria-label="user id">
      <button id="dev-login">Dev login</button>`;
    login.querySelector("#dev-login").onclick = devLogin;
  }
}

async function devLogin() {
  const userId = Number(document.querySelector("#user-id").value);
  try {
    const reply = await api("/dev/token", { method: "POST", body: { user_id: userId } });
    session.save(reply.data.token, userId);
    location.reload();
  } catch (error) {
    notice(`Login failed: ${error.message}`, "error");
  }
}

function notice(text, kind = "") {
  const box = document.querySelector("#notice");
  if (!box) return;
  box.className = `notice ${kind}`;
  box.textContent = text;
  box.hidden = false;
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

const STATUS_NAMES = {
  0: "unpaid", 1: "paid", 2: "cancelled", 3: "timed out",
};

function statusName(order) {
  return order.status_name || STATUS_NAMES[order.status] || String(order.status);
}

// A CSS class for a status name: "timed out" becomes status-timed-out, one class, not two.
function statusClass(order) {
  return `status-${statusName(order).replace(/[^a-z0-9]+/gi, "-")}`;
}

// The API's RFC 3339 timestamps, in the buyer's own locale and time zone ("" if absent).
function localTime(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? String(iso) : at.toLocaleString();
}

// What a 401 from the API means to the buyer: the stored token expired or is not valid any
// more. api() has already forgotten it and shown the login form.
const SESSION_EXPIRED = "Your session has expired — please log in again";

document.addEventListener("DOMContentLoaded", renderHeader);
