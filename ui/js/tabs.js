// The panel tabs: a WAI-ARIA tab list with a roving tabindex (only the selected tab is in the
// Tab order; ArrowLeft/ArrowRight move between tabs, Home/End go to the first/last).

import { $ } from "./dom.js";
import { state } from "./state.js";

const panels = new Map(); // tab name → [{ load, onRefresh }] (a tab may show several parts)

// `load` runs when the tab is shown and, when `onRefresh`, after each overview refresh while
// it is showing.
export function onTab(name, load, { onRefresh = true } = {}) {
  if (!panels.has(name)) panels.set(name, []);
  panels.get(name).push({ load, onRefresh });
}

const tabList = () => [...document.querySelectorAll('[role="tab"]')];

export function showTab(name) {
  state.tab = name;
  for (const t of tabList()) {
    const on = t.id === `tab-${name}`;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
  }
  for (const part of panels.get(name) || []) part.load();
}

// After the overview changed: the panel showing reloads if it depends on it.
export function reloadTab() {
  for (const part of panels.get(state.tab) || []) if (part.onRefresh) part.load();
}

export function initTabs() {
  const tabs = tabList();
  const selected = tabs.find((t) => t.getAttribute("aria-selected") === "true") || tabs[0];
  state.tab = selected.id.slice("tab-".length);
  tabs.forEach((t, i) => {
    t.tabIndex = t === selected ? 0 : -1;
    t.addEventListener("click", () => showTab(t.id.slice("tab-".length)));
    t.addEventListener("keydown", (ev) => {
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
      if (to === undefined) return;
      ev.preventDefault();
      const next = tabs[(to + tabs.length) % tabs.length];
      next.focus();
      showTab(next.id.slice("tab-".length));
    });
  });
}
