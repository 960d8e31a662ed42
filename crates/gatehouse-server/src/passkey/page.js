// The passkey ceremony page's script (served as its own file: the page's CSP allows scripts
// from this server only, never inline). The page carries the WebAuthn options as a JSON data
// block and, on <main>, the ceremony id, its key, the mode ("create" or "get") and where to post
// the answer. The server answers {redirect} (back to the app) or an error body.
"use strict";

(function () {
  const main = document.getElementById("passkey");
  const status = document.getElementById("status");
  const button = document.getElementById("go");
  const done = document.getElementById("done");

  function fromB64u(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }

  function toB64u(buffer) {
    if (!buffer) return null;
    const bytes = new Uint8Array(buffer);
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function show(text, code) {
    status.textContent = text;
    if (code) {
      status.dataset.code = code;
      status.className = "error";
    }
  }

  function options() {
    const opts = JSON.parse(document.getElementById("options").textContent).publicKey;
    opts.challenge = fromB64u(opts.challenge);
    if (opts.user) opts.user.id = fromB64u(opts.user.id);
    for (const list of [opts.excludeCredentials, opts.allowCredentials]) {
      for (const c of list || []) c.id = fromB64u(c.id);
    }
    return opts;
  }

  function encode(cred) {
    const r = cred.response;
    const response = { clientDataJSON: toB64u(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64u(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = toB64u(r.authenticatorData);
      response.signature = toB64u(r.signature);
      response.userHandle = toB64u(r.userHandle);
    }
    return {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      response: response,
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    };
  }

  async function run() {
    button.disabled = true;
    show("Waiting for your passkey…");
    let cred;
    try {
      const publicKey = options();
      cred = main.dataset.mode === "create"
        ? await navigator.credentials.create({ publicKey })
        : await navigator.credentials.get({ publicKey });
    } catch (e) {
      show("The passkey was not used (" + e.name + "). You can try again.", "Cancelled");
      button.disabled = false;
      return;
    }
    const body = JSON.stringify({
      ceremony: main.dataset.ceremony,
      key: main.dataset.key,
      credential: encode(cred),
    });
    main.dataset.posted = body;
    let answer;
    try {
      const r = await fetch(main.dataset.finish, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: body,
        credentials: "omit",
      });
      answer = await r.json();
    } catch (e) {
      show("The server could not be reached. Start again from the app.", "Unreachable");
      return;
    }
    if (!answer.redirect) {
      show(answer.error || "The passkey was refused.", answer.error_code || "PasskeyInvalid");
      return;
    }
    done.href = answer.redirect;
    done.hidden = false;
    show("Done. Returning to the app… If nothing happens, use the link below.");
    window.location.assign(answer.redirect);
  }

  button.addEventListener("click", run);
  if (!window.PublicKeyCredential) {
    show("This browser has no passkey support.", "Unsupported");
    button.disabled = true;
  } else {
    run();
  }
})();
