// Rendering: builds the lists and panels from the views the app returns (src-tauri/src/views.rs).
// Nothing here calls the app; what a control does is passed in as a handler.

import { $, el } from "./dom.js";
import { STATE_LABEL, capital, untilText, when } from "./format.js";
import { label } from "./providers.js";

export function renderSecrets(o) {
  $("secrets").textContent = o.secrets.problem
    ? "Sessions cannot be kept: no usable keychain."
    : `Sessions are kept in ${o.secrets.storage}.`;
  $("keychain-problem").hidden = !o.secrets.problem;
  $("keychain-reason").textContent = capital(o.secrets.problem || "");
}

// Up to two letters from an account's name ("Ada Lovelace" → "AL", "ada@example.test" → "A");
// "?" for an anonymous account or a name without letters (a phone number).
export function initials(a) {
  if (a.provider === "anon-user" || /^(Anonymous|Unknown) user$/.test(a.display_name)) return "?";
  const name = a.display_name.includes("@") ? a.display_name.split("@")[0] : a.display_name;
  const words = name.split(/[\s._+-]+/).filter((w) => /^\p{L}/u.test(w));
  if (!words.length) return "?";
  const first = (w) => [...w][0].toUpperCase();
  return words.length === 1 ? first(words[0]) : first(words[0]) + first(words[words.length - 1]);
}

// A round badge: the profile picture once it has loaded (https only, checked by the app), else
// the initials on a colour that stays the same for the account. Decorative: the name is beside it.
export function avatar(a) {
  let hash = 0;
  for (const c of a.id) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  const badge = el("span", { class: `avatar hue-${hash % 8}`, "aria-hidden": "true", text: initials(a) });
  if (a.picture && a.picture.startsWith("https://")) {
    const img = el("img", { alt: "", referrerpolicy: "no-referrer" });
    img.addEventListener("load", () => badge.replaceChildren(img), { once: true });
    img.src = a.picture;
  }
  return badge;
}

// The sidebar's account list; `pick(account)` runs when one is clicked.
export function renderAccounts(o, pick) {
  $("no-accounts").hidden = o.accounts.length > 0;
  $("accounts").replaceChildren(...o.accounts.map((a) => {
    const stateLabel = STATE_LABEL[a.state];
    const due = a.state === "logged_out" ? null : untilText(a.reauth_at);
    const button = el("button", {
      type: "button",
      class: "switch with-avatar",
      "aria-current": a.state === "active" ? "true" : null,
      "aria-label": `${a.display_name}, ${label(a.provider)}, ${a.connection_name}, ${stateLabel}`,
      onclick: () => pick(a),
    },
    avatar(a),
    el("span", { class: "name", text: a.display_name }),
    el("span", { class: "meta" },
      el("span", { class: "badge provider", text: label(a.provider) || "?" }),
      el("span", { class: "connection", text: a.connection_name }),
      el("span", { class: `badge state state-${a.state}`, text: stateLabel }),
      due ? el("span", { class: "due", text: due }) : null));
    const attrs = { "data-id": a.id, "data-connection": a.connection, "data-state": a.state };
    return el("li", { class: `account${a.state === "active" ? " active" : ""}`, ...attrs }, button);
  }));
}

// The sign-ins waiting for a browser or a mailed link. `complete(p, code, button)` finishes
// one with a typed code, `cancel(p)` gives it up.
export function renderPending(o, { complete, cancel }) {
  $("pending").replaceChildren(...o.pending.map((p) => {
    const magic = p.kind === "magic_link";
    const what = magic
      ? "Waiting for the sign-in link from your mail…"
      : `Waiting for ${label(p.provider)} in your browser…`;
    const code = el("input", {
      id: `code-${p.state}`,
      autocomplete: "one-time-code",
      placeholder: magic ? "123456" : "code or gatehouse:// address",
    });
    const typed = el("form", { class: "row" },
      el("label", { for: `code-${p.state}`, text: "Type the code instead" }), code,
      el("button", { type: "submit", text: "Continue" }),
      el("button", { type: "button", class: "secondary cancel", text: "Cancel", onclick: () => cancel(p) }));
    typed.addEventListener("submit", (ev) => {
      ev.preventDefault();
      complete(p, code.value, typed.querySelector('[type="submit"]'));
    });
    const address = p.url
      ? el("p", { class: "muted" }, "No browser came up? Open this address yourself: ",
        el("input", { readonly: true, value: p.url, class: "mono", "aria-label": "Sign-in address" }))
      : null;
    return el("div", { class: "card pending-signin", "data-state": p.state, role: "status" },
      el("p", {}, el("span", { class: "spinner", "aria-hidden": "true" }), " ", what), address, typed);
  }));
}

// The sign-in methods, enabled where the connection has them; `choose(p)` opens one's form.
export function renderProviders(providers, enabled, chosen, choose) {
  $("providers").replaceChildren(...providers.map((p) => {
    const on = enabled.has(p.type);
    return el("button", {
      type: "button",
      id: `provider-${p.type}`,
      "data-provider": p.type,
      disabled: !on,
      "aria-pressed": chosen === p.type ? "true" : "false",
      title: on ? null : "Not enabled on this server",
      onclick: () => choose(p),
    }, p.label, el("span", { class: "hint", text: on ? p.hint : "not enabled here" }));
  }));
}

// `unlink(identity, button)` removes one; offered while the account has more than one.
export function renderAccountDetails(d, { unlink }) {
  const several = d.identities.length > 1;
  const identities = d.identities.map((i) => el("li", { "data-provider": i.provider },
    el("span", { text: `${label(i.provider)}: ${i.id}` }),
    several ? " " : null,
    several ? el("button", {
      type: "button",
      class: "secondary unlink-identity",
      text: "Unlink",
      "aria-label": `Unlink ${label(i.provider)} ${i.id}`,
      onclick: (ev) => unlink(i, ev.currentTarget),
    }) : null));
  $("account-identities").replaceChildren(...identities);
  const custom = Object.keys(d.custom_data).length > 0;
  $("account-custom-data").hidden = !custom;
  $("account-custom-data-empty").hidden = custom;
  $("account-custom-data").textContent = custom ? JSON.stringify(d.custom_data, null, 2) : "";
  $("account-profile").replaceChildren(...Object.entries(d.profile).flatMap(([k, v]) => [
    el("dt", { text: k }),
    el("dd", { text: typeof v === "string" ? v : JSON.stringify(v) }),
  ]));
}

// The API keys table; `toggle(k, button)` enables or disables one, `remove(k, button)` deletes.
export function renderKeys(keys, { toggle, remove }) {
  $("keys").replaceChildren(...keys.map((k) => el("tr", { "data-id": k.id, "data-enabled": String(k.enabled) },
    el("td", { class: "key-name", text: k.name }),
    el("td", { class: "mono", text: k.id }),
    el("td", { class: "key-enabled", text: k.enabled ? "enabled" : "disabled" }),
    el("td", { text: when(k.created_at) }),
    el("td", {},
      el("button", {
        type: "button",
        class: "secondary toggle-key",
        text: k.enabled ? "Disable" : "Enable",
        onclick: (ev) => toggle(k, ev.currentTarget),
      }),
      " ",
      el("button", {
        type: "button",
        class: "danger delete-key",
        text: "Delete",
        onclick: (ev) => remove(k, ev.currentTarget),
      })))));
  $("keys-empty").hidden = keys.length > 0;
}

// The sessions table; `revoke(s, button)` signs one out (not offered for this device's). The
// device reads as words ("Firefox on Windows", "… — this computer"); the raw fields are its tooltip.
export function renderSessions(list, revoke) {
  $("sessions").replaceChildren(...list.map((s) => el("tr", { "data-id": s.id, "data-current": String(s.current) },
    el("td", {}, el("span", {
      class: `device-label${s.current ? " current" : ""}`,
      text: s.device_label || s.device,
      title: [s.device, s.user_agent].filter(Boolean).join(" · "),
    })),
    el("td", { text: label(s.provider) }),
    el("td", { text: s.ip || "—" }),
    el("td", { text: when(s.created_at) }),
    el("td", { text: when(s.last_used_at) }),
    el("td", {}, s.current ? null : el("button", {
      type: "button",
      class: "secondary revoke",
      text: "Sign out",
      onclick: (ev) => revoke(s, ev.currentTarget),
    })))));
}

// The connections list; the Local one is built in, the others offer `edit(c)` and
// `remove(c, button)`.
export function renderConnections(o, { edit, remove }) {
  $("connections").replaceChildren(...o.connections.map((c) => el("li", { "data-id": c.id },
    el("strong", { text: c.name }), " ",
    el("span", { class: "conn-url mono", text: c.url }), " ",
    el("span", { class: "muted", text: `app ${c.app_id}` }),
    c.problem ? el("div", { class: "error", text: c.problem }) : null,
    c.local
      ? el("div", { class: "muted", text: "Built in: runs inside this app, data stays on this computer." })
      : el("div", { class: "actions" },
        el("button", { type: "button", class: "secondary", text: "Edit", onclick: () => edit(c) }),
        el("button", {
          type: "button",
          class: "danger",
          text: "Remove",
          onclick: (ev) => remove(c, ev.currentTarget),
        })))));
}

// The Local backend's outbox; `confirm(message, link, button)` opens a confirmation link.
export function renderOutbox(list, confirm) {
  if (!list.length) {
    $("outbox").replaceChildren(el("li", { class: "muted", text: "Nothing sent yet." }));
    return;
  }
  $("outbox").replaceChildren(...list.map((m) => el("li", { class: "mail" },
    el("strong", { text: m.subject }), " ",
    el("span", { class: "muted", text: `to ${m.to} (${m.channel})` }),
    el("p", { class: "outbox-text", text: m.text }),
    ...m.links.filter((l) => l.includes("/confirm")).map((link) => el("button", {
      type: "button",
      class: "use-confirm",
      text: "Confirm this account",
      onclick: (ev) => confirm(m, link, ev.currentTarget),
    })))));
}
