// What the window shows once and then forgets: a new authenticator key (as a QR code and as
// text) and recovery codes. Shared by the Account tab's two-step section (panels/mfa.js) and the
// challenge form of an app that requires a second factor (forms/mfa-challenge.js).

import { el } from "./dom.js";

// The QR code's SVG document (from the app, `TotpEnrollmentView.qr_svg`) as an image address:
// the CSP allows `data:` images, and an <img> cannot run script the SVG might carry.
export function qrSource(svg) {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg || "")}`;
}

// Fills the list `ol` with the codes, one item each (empty: cleared).
export function showCodes(ol, codes) {
  ol.replaceChildren(...(codes || []).map((c) => el("li", { text: c })));
}

// Puts `text` on the clipboard and says in `status` whether it worked; `fallback` (an input) is
// selected for copying by hand when the clipboard refuses.
export async function copyText(text, status, fallback = null) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch (_) {
    if (fallback) {
      fallback.select();
      ok = document.execCommand("copy");
    }
  }
  if (status) status.textContent = ok ? "Copied" : "Copy failed: select the text and copy it by hand";
  return ok;
}

// The codes of list `ol`, one a line (what "Copy the codes" puts on the clipboard).
export function codesText(ol) {
  return [...ol.querySelectorAll("li")].map((li) => li.textContent).join("\n");
}
