// What the window remembers between renders. `refresh` asks for the overview again and
// re-renders; main.js plugs in the implementation (overview.js), so modules that only need to
// trigger it do not import the renderer.

export const state = {
  overview: null,
  enabled: new Set(), // provider types the chosen connection has enabled
  providersFor: null, // the connection those were asked for (with its address and status)
  selected: null, // { connection, id } of the account picked in the list
  provider: null, // the provider whose form is open
  tab: "signin",
  linkFor: null, // { connection, id, name } while linking a method to an account
};

let refresher = async () => {};

export function setRefresh(fn) {
  refresher = fn;
}

export function refresh() {
  return refresher();
}

// The account the panels are about: the one picked in the list, else the active one.
export function selectedAccount() {
  const o = state.overview;
  if (!o) return null;
  const s = state.selected;
  return (s && o.accounts.find((a) => a.connection === s.connection && a.id === s.id)) || o.active || null;
}
