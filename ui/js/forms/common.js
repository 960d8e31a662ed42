// What every sign-in form is made of. A form module exports one function taking the context
// built by signin.js (`provider`, `linkUser`, `connection()`, `value(id)`, `report(fn, message)`,
// `finish(request, button)`, `waiting()`) and returning the nodes to show.

import { el } from "../dom.js";

// A real <form>: Enter in one of its fields, or its submit button, runs `onSubmit(button)`.
export function form(onSubmit, ...children) {
  const f = el("form", { class: "step" }, ...children);
  f.addEventListener("submit", (ev) => {
    ev.preventDefault();
    onSubmit(ev.submitter || f.querySelector('button[type="submit"]'));
  });
  return f;
}

// The form's main action (what Enter does).
export function submit(id, text, cls = null) {
  return el("button", { type: "submit", id, class: cls, text });
}

// A further action beside the main one.
export function button(id, text, onClick, cls = "secondary") {
  return el("button", { type: "button", id, class: cls, text, onclick: (ev) => onClick(ev.currentTarget) });
}
