// The viewer's single page: hash routes #/login, #/patients, #/patients/<pid>, #/identify/<pid>.
import { ApiError, getJSON, login, postJSON, session, setUnauthorisedHandler } from "./api.js";
import { $, clearError, h, showError } from "./dom.js";
import { renderPatient, leavePatient } from "./patient.js";

const VIEWS = ["login-view", "patients-view", "patient-view", "identify-view"];
const PID = /^BT-[A-Z2-7]{10}$/;

function show(view) {
  for (const v of VIEWS) $(`#${v}`).hidden = v !== view;
}

function setCrumbs(...parts) {
  $("#crumbs").replaceChildren(...parts.flatMap((p, i) => (i ? [" › ", p] : [p])));
}

async function ensureMe() {
  if (!session.token) return null;
  if (!session.me) session.me = await getJSON("auth/me");
  $("#whoami").textContent = `${session.me.name} (${session.me.role})`;
  $("#logout").hidden = false;
  return session.me;
}

let pendingMessage = "";

function toLogin(message) {
  session.me = null;
  if (message) pendingMessage = `Please sign in again: ${message}`;
  $("#whoami").textContent = "";
  $("#logout").hidden = true;
  if (location.hash !== "#/login") {
    sessionStorage.setItem("braintwin.after", location.hash);
    location.hash = "#/login"; // routeLogin shows the message
  } else {
    showError(pendingMessage);
  }
}
setUnauthorisedHandler(toLogin);

async function routeLogin() {
  leavePatient();
  show("login-view");
  if (pendingMessage) showError(pendingMessage);
  pendingMessage = "";
  setCrumbs();
  $("#login-name").focus();
}

function ago(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toISOString().slice(0, 16).replace("T", " ");
}

async function routePatients() {
  leavePatient();
  await ensureMe();
  setCrumbs(h("a", { href: "#/patients" }, "Patients"));
  show("patients-view");
  const rows = await getJSON("viewer/patients");
  const body = $("#patient-list tbody");
  body.replaceChildren(
    ...rows.map((p) =>
      h(
        "tr",
        { "data-patient": p.id },
        h("td", {}, h("a", { href: `#/patients/${p.id}` }, p.id)),
        h("td", { class: "num" }, p.n_visits),
        h("td", {}, p.first_visit || "–"),
        h("td", {}, p.last_visit || "–"),
        h("td", {}, ago(p.last_change)),
        h("td", { class: p.model === "current" ? "ok" : "warn", title: p.model_reason || "" }, p.model),
        h("td", {}, p.teams.join(", ")),
      ),
    ),
  );
  if (!rows.length) body.append(h("tr", {}, h("td", { colspan: 7 }, "No patients in your teams yet.")));
}

async function routeIdentify(pid) {
  leavePatient();
  const me = await ensureMe();
  show("identify-view");
  setCrumbs(h("a", { href: "#/patients" }, "Patients"), h("a", { href: `#/patients/${pid}` }, pid), "identify");
  const form = $("#identify-form");
  if (!me || me.role === "researcher") {
    form.hidden = true;
    $("#identify-text").textContent = "Researchers see pseudonymised data only.";
    showError("The identified view is not permitted for your role (researcher).");
    return;
  }
  $("#identify-text").textContent =
    `braintwin stores no identifiers: type the hospital identifier to check that it is ${pid}. ` +
    "It is sent once over this connection, shown on this page only and never stored.";
  $("#identify-result").textContent = "";
  form.hidden = false;
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    clearError();
    const identifier = $("#identify-input").value;
    try {
      const r = await postJSON("patients/lookup", { identifier });
      $("#identify-result").textContent =
        r.id === pid ? `✔ This identifier is ${pid}.` : "✘ This identifier belongs to another patient.";
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) {
        $("#identify-result").textContent = "✘ Not a patient of your teams (or not this patient).";
      } else throw err;
    } finally {
      $("#identify-input").value = "";
    }
  };
}

async function route() {
  clearError();
  const hash = location.hash || "#/patients";
  const parts = hash.replace(/^#\/?/, "").split("/");
  try {
    if (parts[0] === "login") return await routeLogin();
    if (!session.token) return toLogin();
    if (parts[0] === "patients" && parts[1]) {
      if (!PID.test(parts[1])) throw new Error("that is not a pseudonym");
      await ensureMe();
      show("patient-view");
      setCrumbs(h("a", { href: "#/patients" }, "Patients"), parts[1]);
      return await renderPatient($("#patient-view"), parts[1], session.me);
    }
    if (parts[0] === "identify" && parts[1]) return await routeIdentify(parts[1]);
    return await routePatients();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    showError(err.message || String(err));
  }
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearError();
  try {
    await login($("#login-name").value, $("#login-password").value);
    $("#login-password").value = "";
    const after = sessionStorage.getItem("braintwin.after");
    sessionStorage.removeItem("braintwin.after");
    location.hash = after && after !== "#/login" ? after : "#/patients";
    await ensureMe();
  } catch (err) {
    showError(err.message || "sign-in failed");
  }
});

$("#logout").addEventListener("click", () => {
  session.token = null;
  toLogin();
});

window.addEventListener("hashchange", route);
window.addEventListener("unhandledrejection", (ev) => {
  const err = ev.reason;
  if (err instanceof ApiError && err.status === 401) return;
  showError(err?.message || String(err));
});
route();
