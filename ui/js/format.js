// Words and times as the window shows them.

export function when(seconds) {
  if (!seconds) return "—";
  return new Date(seconds * 1000).toLocaleString();
}

// "renew in 3 d" for a session that must be renewed by signing in again at `seconds`.
export function untilText(seconds) {
  if (!seconds) return null;
  const left = seconds - Date.now() / 1000;
  if (left <= 0) return "sign-in needed";
  const days = Math.floor(left / 86400);
  const hours = Math.floor(left / 3600);
  if (days >= 1) return `renew in ${days} d`;
  if (hours >= 1) return `renew in ${hours} h`;
  return `renew in ${Math.ceil(left / 60)} min`;
}

export const capital = (t) => (t ? t[0].toUpperCase() + t.slice(1) : t);

// An account's state (`AccountView.state` in src-tauri/src/views.rs) in words.
export const STATE_LABEL = Object.freeze({
  active: "active",
  logged_in: "signed in",
  logged_out: "signed out",
  offline: "offline",
});
