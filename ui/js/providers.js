// The sign-in methods the window offers, in order. `form` names the module in forms/ that
// builds the method's form; `token` is the sign-in request's `method` for pasting a provider's
// token instead of going through the browser.

export const PROVIDERS = Object.freeze([
  { type: "anon-user", label: "Anonymous", hint: "No details needed", form: "anonymous" },
  { type: "local-userpass", label: "Email", hint: "Email and password", form: "email" },
  { type: "phone-password", label: "Phone", hint: "Phone and password", form: "phone" },
  { type: "sms-code", label: "SMS code", hint: "One-time code by text", form: "smsCode" },
  { type: "magic-link", label: "Magic link", hint: "Link by email", form: "magicLink" },
  { type: "api-key", label: "API key", hint: "User or server key", form: "apiKey" },
  { type: "custom-token", label: "Custom JWT", hint: "Token from your IdP", form: "customToken" },
  { type: "custom-function", label: "Custom function", hint: "JSON payload", form: "customFunction" },
  { type: "oauth2-google", label: "Google", hint: "In your browser", form: "browser", token: "google_id_token" },
  { type: "oauth2-apple", label: "Apple", hint: "In your browser", form: "browser", token: "apple_id_token" },
  { type: "oauth2-facebook", label: "Facebook", hint: "In your browser", form: "browser", token: "facebook" },
  { type: "oauth2-github", label: "GitHub", hint: "In your browser", form: "browser" },
  { type: "oauth2-discord", label: "Discord", hint: "In your browser", form: "browser" },
  { type: "oauth2-twitter", label: "X (Twitter)", hint: "In your browser", form: "browser" },
  { type: "passkey", label: "Passkey", hint: "In your browser", form: "browser" },
]);

const LABELS = new Map(PROVIDERS.map((p) => [p.type, p.label]));

// The provider's name in words (its type when the window does not know it).
export function label(type) {
  return LABELS.get(type) || type || "";
}

export function provider(type) {
  return PROVIDERS.find((p) => p.type === type) || null;
}
