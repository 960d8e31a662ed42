// The sign-in forms by name (the `form` of each entry in providers.js).

import anonymous from "./anonymous.js";
import apiKey from "./api-key.js";
import browser from "./browser.js";
import customFunction from "./custom-function.js";
import customToken from "./custom-token.js";
import email from "./email.js";
import magicLink from "./magic-link.js";
import phone from "./phone.js";
import smsCode from "./sms-code.js";

export const FORMS = Object.freeze({
  anonymous, email, phone, smsCode, magicLink, apiKey, customToken, customFunction, browser,
});
