// Rendering of the security centre (src-tauri/src/security_centre.rs's views): one card per
// account with its summary line, sessions, API keys and recent activity. Nothing here calls the
// app; what a control does comes in `h` (handlers), each given the card's account.

import { el } from "../dom.js";
import { STATE_LABEL, when } from "../format.js";
import { label } from "../providers.js";
import { UNUSUAL, activityWords } from "../activity-words.js";

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

function summaryText(c) {
  const s = c.summary;
  if (c.must_sign_in) return "Must sign in again to show its sessions, keys and activity.";
  const parts = [`Last sign-in ${s.last_sign_in ? when(s.last_sign_in) : "unknown"}`,
    plural(s.devices, "device", "devices"),
    c.keys_available ? plural(s.active_keys, "active key", "active keys") : "no keys (anonymous)"];
  return parts.join(" · ");
}

function unusualLine(c, h) {
  const s = c.summary;
  if (!s.unusual_count) return el("p", { class: "sec-quiet muted", text: "Nothing unusual since you last looked." });
  const what = s.unusual_kinds.map(activityWords).join(", ");
  return el("p", { class: "sec-unusual", role: "status" },
    el("strong", { text: `${plural(s.unusual_count, "unusual event", "unusual events")} since you last looked: ` }),
    what, " ",
    el("button", { type: "button", class: "secondary mark-seen", text: "Mark as seen",
      onclick: (ev) => h.markSeen(c, ev.currentTarget) }));
}

function sessionsTable(c, h) {
  if (!c.sessions.length) return el("p", { class: "muted", text: "No live sessions." });
  const rows = c.sessions.map((s) => el("tr", { "data-id": s.id, "data-current": String(s.current) },
    el("td", {}, s.device_label || s.device,
      " ", s.current ? el("span", { class: "badge state-active", text: "this device" }) : null),
    el("td", { text: label(s.provider) }),
    el("td", { text: s.ip || "—" }),
    el("td", { text: when(s.last_used_at) }),
    el("td", {}, s.current ? null : el("button", { type: "button", class: "secondary sec-revoke", text: "Sign out",
      "aria-label": `Sign out ${s.device_label || s.device}`, onclick: (ev) => h.revoke(c, s, ev.currentTarget) }))));
  return el("table", { class: "list" },
    el("caption", { class: "sr-only", text: `Sessions of ${c.account.display_name}` }),
    el("thead", {}, el("tr", {}, ...["Device", "Signed in with", "Address", "Last used", "Actions"]
      .map((t) => el("th", { scope: "col", text: t })))),
    el("tbody", {}, ...rows));
}

function keysTable(c, h) {
  if (!c.keys_available) return el("p", { class: "muted", text: "Anonymous accounts cannot have API keys." });
  if (!c.keys.length) return el("p", { class: "muted", text: "No API keys." });
  const rows = c.keys.map((k) => el("tr", { "data-id": k.id, "data-enabled": String(k.enabled) },
    el("td", { class: "key-name", text: k.name }),
    el("td", { class: "key-enabled", text: k.enabled ? "enabled" : "disabled" }),
    el("td", { text: when(k.created_at) }),
    el("td", {},
      el("button", { type: "button", class: "secondary sec-toggle-key", text: k.enabled ? "Disable" : "Enable",
        "aria-label": `${k.enabled ? "Disable" : "Enable"} key ${k.name}`,
        onclick: (ev) => h.toggleKey(c, k, ev.currentTarget) }), " ",
      el("button", { type: "button", class: "danger sec-delete-key", text: "Delete",
        "aria-label": `Delete key ${k.name}`, onclick: (ev) => h.deleteKey(c, k, ev.currentTarget) }))));
  return el("table", { class: "list" },
    el("caption", { class: "sr-only", text: `API keys of ${c.account.display_name}` }),
    el("thead", {}, el("tr", {}, ...["Name", "State", "Created", "Actions"]
      .map((t) => el("th", { scope: "col", text: t })))),
    el("tbody", {}, ...rows));
}

function activityList(c) {
  if (!c.activity.length) return el("p", { class: "muted", text: "No recorded activity." });
  return el("ol", { class: "plain sec-activity" }, ...c.activity.map((e) => el("li", {
    "data-kind": e.kind,
    class: UNUSUAL.has(e.kind) ? "unusual" : null,
  }, el("span", { class: "sec-when muted", text: when(e.created_at) }), " ",
  el("span", { class: "sec-what", text: activityWords(e.kind) }),
  e.ip ? el("span", { class: "muted", text: ` from ${e.ip}` }) : null)));
}

function body(c, h) {
  if (c.must_sign_in) {
    return el("div", { class: "sec-body" },
      el("p", { class: "banner warning", text: `${c.account.display_name} is signed out on this device.` }),
      el("button", { type: "button", class: "sec-reauth", text: "Sign in again", onclick: () => h.reauth(c) }));
  }
  return el("div", { class: "sec-body" },
    c.problem ? el("p", { class: "error", role: "alert", text: c.problem }) : null,
    el("h4", { text: "Sessions" }), sessionsTable(c, h),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "secondary sec-revoke-others", text: "Sign out every other session",
        onclick: (ev) => h.revokeOthers(c, ev.currentTarget) }),
      el("button", { type: "button", class: "danger sec-revoke-all", text: "Sign out everywhere",
        onclick: (ev) => h.revokeAll(c, ev.currentTarget) })),
    el("h4", { text: "API keys" }), keysTable(c, h),
    el("h4", { text: "Recent activity" }), activityList(c));
}

// One card; `open` keeps a card expanded across re-renders.
export function securityCard(c, open, h) {
  const a = c.account;
  const card = el("details", {
    class: `sec-card${c.summary.unusual_count ? " has-unusual" : ""}`,
    "data-id": a.id,
    "data-connection": a.connection,
    "data-state": c.must_sign_in ? "logged_out" : a.state,
    open: open || null,
  },
  el("summary", {},
    el("span", { class: "name", text: a.display_name }), " ",
    el("span", { class: "badge provider", text: label(a.provider) || "?" }), " ",
    el("span", { class: "connection muted", text: a.connection_name }), " ",
    el("span", { class: `badge state state-${a.state}`, text: STATE_LABEL[a.state] }),
    el("span", { class: "sec-summary", text: summaryText(c) })),
  unusualLine(c, h),
  body(c, h));
  card.addEventListener("toggle", () => h.expanded(c, card.open));
  return card;
}
