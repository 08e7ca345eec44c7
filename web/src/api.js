// The REST API with the session's bearer token; a 401 ends the session (back to #/login).
export const API = "/api/v1";
const KEY = "braintwin.token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(KEY);
  },
  set token(t) {
    if (t) sessionStorage.setItem(KEY, t);
    else sessionStorage.removeItem(KEY);
  },
  me: null,
};

let onUnauthorised = () => {};
export function setUnauthorisedHandler(fn) {
  onUnauthorised = fn;
}

function authHeaders(extra = {}) {
  const h = { ...extra };
  if (session.token) h.Authorization = `Bearer ${session.token}`;
  return h;
}

async function failure(res) {
  let detail = res.statusText || `HTTP ${res.status}`;
  try {
    const body = await res.json();
    if (body && typeof body.detail === "string") detail = body.detail;
  } catch {
    /* not JSON */
  }
  if (res.status === 401) {
    session.token = null;
    onUnauthorised(detail);
  }
  return new ApiError(res.status, detail);
}

export async function request(path, { method = "GET", json, body, headers = {}, signal } = {}) {
  const init = { method, headers: authHeaders(headers), signal };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["content-type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  const res = await fetch(path.startsWith("/") ? path : `${API}/${path}`, init);
  if (!res.ok) throw await failure(res);
  return res;
}

export async function getJSON(path, opts) {
  return (await request(path, opts)).json();
}

export async function postJSON(path, json) {
  return (await request(path, { method: "POST", json })).json();
}

export async function getBuffer(path) {
  return (await request(path)).arrayBuffer();
}

export async function login(username, password) {
  const res = await fetch(`${API}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (!res.ok) {
    let detail = "sign-in failed";
    try {
      detail = (await res.json()).detail || detail;
    } catch {
      /* keep the default */
    }
    throw new ApiError(res.status, detail);
  }
  session.token = (await res.json()).access_token;
  session.me = await getJSON("auth/me");
  return session.me;
}

/** Download a protected file (report, export zip) through a blob link. */
export async function download(path, fallbackName) {
  const res = await request(path);
  const cd = res.headers.get("content-disposition") || "";
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = m ? decodeURIComponent(m[1]) : fallbackName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** Follow a job live: the SSE stream read through fetch (EventSource cannot send the token),
 * polling if the stream breaks. `onUpdate(job)` is called on each change; resolves with the
 * final job. */
export async function followJob(id, onUpdate) {
  try {
    const res = await request(`jobs/${id}/events`, { headers: { accept: "text/event-stream" } });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    let last = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("\n");
        if (!data) continue;
        const job = JSON.parse(data);
        if (job.status) {
          last = job;
          onUpdate(job);
          if (job.status === "done" || job.status === "failed") return job;
        }
      }
    }
    if (last && (last.status === "done" || last.status === "failed")) return last;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw err;
  }
  for (;;) {
    const job = await getJSON(`jobs/${id}`);
    onUpdate(job);
    if (job.status === "done" || job.status === "failed") return job;
    await new Promise((r) => setTimeout(r, 1000));
  }
}
