// Starts Swagger UI with the settings the server put in the page's JSON block (#docs-settings).
// A file rather than an inline script, so the page's Content-Security-Policy can refuse inline code.
//
// DPoP (RFC 9449): the page holds one P-256 key, made by WebCrypto when it loads, whose private half
// cannot be exported (not even by this script). Every request goes through requestInterceptor, which
// Swagger UI 4.19 awaits: the login's token request gets a proof, so the issuer binds the token to this
// key (token_type DPoP), and every call with such a token (Swagger UI then sends "Authorization: DPoP")
// gets a fresh proof with the token's hash. The key is kept in IndexedDB (still non-extractable) and the
// tab's tokens in sessionStorage, so a reload keeps the login; logout and expiry clear both (see logins).
"use strict";

const encoder = new TextEncoder();
const DPOP_SCHEME = "dpop"; // the security scheme's name in the API documents
const LOGIN_SCHEME = "authorization_code"; // the code + PKCE login, defined in every mode
const CARRIED = new Set(["message_id", "If-Match"]); // the parameters filled from a message's answer

// The bearer field's token goes out as "Bearer <field>" (OpenAPI 3's http bearer scheme): pasted with its
// scheme ("Bearer x", "DPoP x"), the field's own scheme wins; a bare token in an apiKey header gets "Bearer ".
function addBearerScheme(request) {
    const auth = request.headers && request.headers.Authorization;
    if (typeof auth !== "string" || !auth.trim()) {
        return request;
    }
    const doubled = auth.trim().match(/^bearer\s+((?:bearer|dpop)\s+\S+)$/i);
    if (doubled) {
        request.headers.Authorization = doubled[1];
    } else if (!/\s/.test(auth.trim())) {
        request.headers.Authorization = "Bearer " + auth.trim();
    }
    return request;
}

// Each tag's operations in the order people use them: a collection before its items, and on each path
// read (list or get), create, replace, edit, delete. Tags keep the document's order (the README's).
const METHOD_ORDER = ["get", "post", "put", "patch", "delete", "head", "options"];

function operationsSorter(a, b) {
    const [pathA, pathB] = [a.get("path"), b.get("path")];
    if (pathA !== pathB) {
        return pathA < pathB ? -1 : 1;
    }
    return METHOD_ORDER.indexOf(a.get("method")) - METHOD_ORDER.indexOf(b.get("method"));
}

// Values carried from answer to call: after the page creates, reads or edits a message, the item operations'
// message_id and If-Match fields hold its id and current ETag, until the user types their own in a field
// (emptying it hands it back). The fields are filled as Swagger UI draws them, through their own input
// events, so what the page shows is what it sends.
class CarriedValues {
    constructor() {
        this.values = {}; // parameter name -> value
        this.typed = new Set(); // "METHOD path parameter" of the fields the user typed in
        document.addEventListener("input", (event) => {
            const key = event.isTrusted && this.key(event.target);
            if (key) {
                if (event.target.value) {
                    this.typed.add(key);
                } else {
                    this.typed.delete(key);
                }
            }
        }, true);
        new MutationObserver(() => this.fill()).observe(document.body, {childList: true, subtree: true});
    }

    // The field's key when it is one of the parameters carried, else null.
    key(field) {
        const row = field instanceof HTMLInputElement && field.closest("tr[data-param-name]");
        const block = row && field.closest(".opblock");
        const path = block && block.querySelector("[data-path]");
        const method = block && block.querySelector(".opblock-summary-method");
        const name = row && row.dataset.paramName;
        if (!path || !method || !CARRIED.has(name)) {
            return null;
        }
        return `${method.textContent.trim()} ${path.dataset.path} ${name}`;
    }

    // A message's answer (a body with an id and a version, and an ETag): its values are carried.
    remember(response) {
        const body = response.body;
        const tag = response.headers && (response.headers.etag || response.headers.ETag);
        if (response.ok && tag && body && typeof body.id === "string" && Number.isInteger(body.version)) {
            this.values = {message_id: body.id, "If-Match": tag};
            this.fill();
        }
        return response;
    }

    fill() {
        for (const name of Object.keys(this.values)) {
            for (const field of document.querySelectorAll(`tr[data-param-name="${name}"] input`)) {
                const key = this.key(field);
                if (key && !this.typed.has(key) && field.value !== this.values[name]) {
                    SET_VALUE.call(field, this.values[name]);
                    field.dispatchEvent(new Event("input", {bubbles: true})); // React's onChange: Swagger UI's state
                }
            }
        }
    }
}
const SET_VALUE = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set;

// OpenAPI 3 names the dpop scheme `type: http, scheme: DPoP`. Swagger UI 4.19 draws a field only for the
// basic and bearer schemes, and sends nothing for others: this plugin draws the field, and
// requestInterceptor sends what it holds as "Authorization: DPoP <token>".
function DPoPFieldPlugin() {
    return {
        wrapComponents: {
            HttpAuth: (Original, system) => function (props) {
                const h = system.React.createElement;
                if (String(props.schema.get("scheme") || "").toLowerCase() !== "dpop") {
                    return h(Original, props);
                }
                const {name, schema, authorized, onChange, getComponent} = props;
                const Markdown = getComponent("Markdown", true);
                const held = authorized && authorized.getIn([name, "value"]);
                const field = held ? h("code", null, " ****** ") : h("input", {
                    type: "text", "aria-label": "auth-dpop-value",
                    onChange: (event) => onChange({name, schema, value: event.target.value}),
                });
                return h("div", null,
                    h("h4", null, h("code", null, name), "  (http, DPoP)"),
                    held ? h("h6", null, "Authorized") : null,
                    h("div", {className: "wrapper"}, h(Markdown, {source: schema.get("description")})),
                    h("div", {className: "wrapper"}, h("label", null, "Value:"), field));
            },
        },
    };
}

const DPOP_EXPLAINED = "DPoP (RFC 9449): this page holds a P-256 key made by WebCrypto, which it cannot export " +
    "(not even its own script can read the private half). Its logins send a proof with the token request, so " +
    "the token comes back bound to that key; every call then carries a fresh, single-use proof (its own jti, " +
    "the token's hash), and a nonce demand (use_dpop_nonce) is answered by one retry with the nonce. A " +
    "DPoP-bound token pasted here cannot work: it is bound to the key of the client that got it, which this " +
    "page does not hold.";
const BEARER_SWITCH = "Log in for plain Bearer tokens (no DPoP): the Curl box's command then runs as shown.";
const SPENT_PROOF = "<spent: a DPoP proof is single-use>";
const NOTE_SPENT_PROOF = "The page signed this call with its own key (DPoP). The proof it sent was single-use: " +
    "sent again, the API refuses it (invalid_dpop_proof, already used), so the DPoP header above is left out. " +
    "The token is bound to the page's key, which cannot be exported, so it cannot be replayed outside the " +
    "page. For a command that runs, tick \"Log in for plain Bearer tokens\" under Authorize (when the API " +
    "takes Bearer tokens), or make a proof per call with `make dpop-proof` (README, \"Calling it with DPoP\").";

// What the page's logins ask for: DPoP-bound tokens unless the user switched to Bearer (AUTH_DPOP=allowed).
const loginScheme = {bearer: false};

// The Authorize dialog says what the page does with DPoP, and offers the Bearer switch when the API takes
// both; the Curl box of a call signed by the page shows no spent proof as if it could be reused.
function DPoPExplainedPlugin(docs) {
    return function () {
        return {
            wrapComponents: {
                auths: (Original, system) => function (props) {
                    const h = system.React.createElement;
                    // once, above the logins (the dialog draws one group of forms per scheme)
                    if (docs.dpop === "off" || !props.definitions.has(LOGIN_SCHEME)) {
                        return h(Original, props);
                    }
                    const toggle = docs.dpop === "allowed" && h("label", {className: "bearer-switch"},
                        h("input", {type: "checkbox", defaultChecked: loginScheme.bearer,
                            onChange: (event) => { loginScheme.bearer = event.target.checked; }}),
                        " " + BEARER_SWITCH);
                    return h("div", null,
                        h("div", {className: "dpop-explained"}, h("p", null, DPOP_EXPLAINED), toggle || null),
                        h(Original, props));
                },
                curl: (Original, system) => function (props) {
                    const h = system.React.createElement;
                    if (!(props.request && props.request.getIn(["headers", "DPoP"]))) {
                        return h(Original, props);
                    }
                    const request = props.request.setIn(["headers", "DPoP"], SPENT_PROOF);
                    return h("div", null, h(Original, {...props, request}),
                        h("p", {className: "spent-proof"}, NOTE_SPENT_PROOF));
                },
            },
        };
    };
}

// A login that survives a reload: the tab's tokens in sessionStorage (never localStorage), restored when the
// page loads, dropped at their expiry; logging out of the last one (or its expiry) removes the stored key.
// Only tokens are kept: never a client secret.
const logins = {
    STORED: "docs-logins",
    timer: null,

    read() {
        try {
            return JSON.parse(sessionStorage.getItem(this.STORED)) || {};
        } catch (error) {
            return {};
        }
    },

    // What Swagger UI holds now, as kept: {name: {token} or {value}, expires_at}.
    save(ui, signer) {
        const kept = {};
        const now = Date.now() / 1000;
        for (const [name, auth] of Object.entries(ui.authSelectors.authorized().toJS())) {
            const token = auth.token && auth.token.access_token;
            const entry = token ? {token: {access_token: token, token_type: auth.token.token_type,
                                           scope: auth.token.scope}} : {value: auth.value};
            const claims = jwtClaims(token || String(auth.value || "").replace(/^(bearer|dpop)\s+/i, ""));
            const lifetime = auth.token && Number(auth.token.expires_in);
            entry.expires_at = claims && claims.exp ? claims.exp : lifetime ? now + lifetime : null;
            if (entry.token || typeof entry.value === "string") {
                kept[name] = entry;
            }
        }
        if (Object.keys(kept).length) {
            sessionStorage.setItem(this.STORED, JSON.stringify(kept));
        } else {
            const had = sessionStorage.getItem(this.STORED) !== null;
            sessionStorage.removeItem(this.STORED);
            if (had && signer) {
                signer.reset();
            }
        }
        this.expireLater(ui, kept);
    },

    // The kept tokens that have not expired, put back in Swagger UI after a reload.
    restore(ui, signer) {
        const definitions = ui.specSelectors.securityDefinitions();
        const now = Date.now() / 1000;
        for (const [name, entry] of Object.entries(this.read())) {
            const schema = definitions && definitions.get(name);
            if (!schema || (entry.expires_at && entry.expires_at <= now)) {
                continue;
            }
            if (entry.token) {
                ui.authActions.authorizeOauth2({auth: {name, schema}, token: entry.token});
            } else {
                ui.authActions.authorize({[name]: {name, schema, value: entry.value}});
            }
        }
        this.save(ui, signer); // drops what expired meanwhile (and the key, when nothing is left)
    },

    expireLater(ui, kept) {
        clearTimeout(this.timer);
        const expiring = Object.entries(kept).filter(([, entry]) => entry.expires_at);
        if (!expiring.length) {
            return;
        }
        const next = Math.min(...expiring.map(([, entry]) => entry.expires_at));
        const names = expiring.filter(([, entry]) => entry.expires_at === next).map(([name]) => name);
        this.timer = setTimeout(() => ui.authActions.logoutWithPersistOption(names),
            Math.max(0, next * 1000 - Date.now()));
    },
};

// Swagger UI calls persistAuthorizationIfNeeded after each login and logout (its own persistence, to
// localStorage, stays off): the page keeps its logins there.
function KeptLoginsPlugin(signer) {
    return function () {
        return {
            statePlugins: {
                auth: {
                    wrapActions: {
                        persistAuthorizationIfNeeded: (original, system) => function () {
                            logins.save(system, signer);
                            return original();
                        },
                    },
                },
            },
        };
    };
}

// The token held by the dpop field (see DPoPFieldPlugin), or null.
function dpopFieldToken() {
    const token = window.ui && window.ui.authSelectors.authorized().getIn([DPOP_SCHEME, "value"]);
    return token ? String(token).trim().replace(/^dpop\s+/i, "") : null;
}

function base64url(bytes) {
    let binary = "";
    for (const byte of new Uint8Array(bytes)) {
        binary += String.fromCharCode(byte);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function base64urlJson(value) {
    return base64url(encoder.encode(JSON.stringify(value)));
}

// The claims of a JWT, or null for anything else (an opaque token, garbage).
function jwtClaims(token) {
    try {
        const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
        const claims = JSON.parse(atob(payload));
        return claims && typeof claims === "object" ? claims : null;
    } catch (error) {
        return null;
    }
}

function isDPoPBound(token) {
    const claims = jwtClaims(token);
    return Boolean(claims && claims.cnf && claims.cnf.jkt);
}

// RFC 6749 §4.1.3, §4.4.2: a token request is a form POST with a grant_type.
function isTokenRequest(request) {
    return /^post$/i.test(request.method || "") && typeof request.body === "string" &&
        /(^|&)grant_type=/.test(request.body);
}

// The Authorization header's name as Swagger UI spelled it: "Authorization" (apiKey) or "authorization" (oauth2).
function authorizationHeader(headers) {
    return Object.keys(headers).find((name) => name.toLowerCase() === "authorization");
}

const NOTE_BOUND_TOKEN = "This token is DPoP-bound: it works only with proofs signed by the private key of " +
    "the client that obtained it, and this page does not hold that key, so the API refuses it. " +
    "Log in with authorization_code or client_credentials instead: this page then binds the token to its own key.";
const NOTE_NO_WEBCRYPTO = "This page cannot sign DPoP proofs here: WebCrypto needs https (or http on " +
    "127.0.0.1 or localhost). Logins get Bearer tokens, which this API refuses: it requires DPoP.";

function showNote(text) {
    const note = document.getElementById("dpop-note");
    note.textContent = text;
    note.hidden = false;
}

function hideNote(text) {
    const note = document.getElementById("dpop-note");
    if (note.textContent === text) {
        note.hidden = true;
    }
}

// The page's DPoP key pair, kept in IndexedDB: a CryptoKey survives a reload there (structured clone)
// and stays non-extractable. Nothing else is stored in it.
const keyStore = {
    NAME: "dpop",
    open() {
        return new Promise((resolve, reject) => {
            const opening = indexedDB.open("docs-page", 1);
            opening.onupgradeneeded = () => opening.result.createObjectStore("keys");
            opening.onsuccess = () => resolve(opening.result);
            opening.onerror = () => reject(opening.error);
        });
    },
    async run(mode, operation) {
        const db = await this.open();
        return new Promise((resolve, reject) => {
            const transaction = db.transaction("keys", mode);
            const request = operation(transaction.objectStore("keys"));
            transaction.oncomplete = () => { db.close(); resolve(request.result); };
            transaction.onerror = transaction.onabort = () => { db.close(); reject(transaction.error); };
        });
    },
    get() { return this.run("readonly", (keys) => keys.get(this.NAME)); },
    put(pair) { return this.run("readwrite", (keys) => keys.put(pair, this.NAME)); },
    remove() { return this.run("readwrite", (keys) => keys.delete(this.NAME)); },
};

class DPoPSigner {
    constructor() {
        this.nonces = new Map(); // origin -> the last DPoP-Nonce it sent (RFC 9449 §8, §9)
        this.key = this.load();
    }

    // The stored key pair, or a new one (stored): its private half cannot be exported, even from here.
    async load() {
        let pair = await keyStore.get().catch(() => null);
        if (!pair) {
            pair = await crypto.subtle.generateKey({name: "ECDSA", namedCurve: "P-256"}, false, ["sign", "verify"]);
            await keyStore.put({privateKey: pair.privateKey, publicKey: pair.publicKey}).catch(() => null);
        }
        const {kty, crv, x, y} = await crypto.subtle.exportKey("jwk", pair.publicKey);
        // RFC 7638: the thumbprint a token bound to this key names in cnf.jkt
        const canonical = JSON.stringify({crv, kty, x, y});
        const jkt = base64url(await crypto.subtle.digest("SHA-256", encoder.encode(canonical)));
        return {privateKey: pair.privateKey, jwk: {kty, crv, x, y}, jkt};
    }

    // Logged out or expired: the key goes too, and the next login binds its token to a new one.
    reset() {
        this.key = keyStore.remove().catch(() => null).then(() => this.load());
    }

    // A proof for one request (RFC 9449 §4.2): htu without query and fragment, ath when a token goes with it.
    async proof(method, url, accessToken) {
        const key = await this.key;
        const target = new URL(url, window.location.href);
        const claims = {
            jti: crypto.randomUUID(),
            htm: method.toUpperCase(),
            htu: target.origin + target.pathname,
            iat: Math.floor(Date.now() / 1000),
        };
        if (accessToken) {
            claims.ath = base64url(await crypto.subtle.digest("SHA-256", encoder.encode(accessToken)));
        }
        if (this.nonces.has(target.origin)) {
            claims.nonce = this.nonces.get(target.origin);
        }
        const input = base64urlJson({typ: "dpop+jwt", alg: "ES256", jwk: key.jwk}) + "." + base64urlJson(claims);
        const signature = await crypto.subtle.sign({name: "ECDSA", hash: "SHA-256"}, key.privateKey, encoder.encode(input));
        return input + "." + base64url(signature);
    }

    // Adds the proof, and a fetch that answers a nonce demand (use_dpop_nonce) by retrying once with the nonce.
    async sign(request, accessToken) {
        const origin = new URL(request.url, window.location.href).origin;
        request.headers.DPoP = await this.proof(request.method, request.url, accessToken);
        request.userFetch = async (url, init) => {
            const sent = this.nonces.get(origin);
            let response = await fetch(url, init);
            const nonce = response.headers.get("DPoP-Nonce");
            if (nonce) {
                this.nonces.set(origin, nonce);
            }
            if (nonce && nonce !== sent && await asksForNonce(response)) {
                init.headers.DPoP = await this.proof(request.method, request.url, accessToken);
                response = await fetch(url, init);
                const next = response.headers.get("DPoP-Nonce");
                if (next) {
                    this.nonces.set(origin, next);
                }
            }
            return response;
        };
        return request;
    }
}

// A resource server asks in its challenge (401), an authorization server in its JSON error (400).
async function asksForNonce(response) {
    if (response.status === 401) {
        return /error="use_dpop_nonce"/.test(response.headers.get("WWW-Authenticate") || "");
    }
    if (response.status === 400) {
        const body = await response.clone().json().catch(() => null);
        return Boolean(body && body.error === "use_dpop_nonce");
    }
    return false;
}

// RFC 8707: a standard provider issues a token for this API only when the token request names it as
// `resource`, in the form body (Swagger UI puts its extra parameters in the token URL's query only).
function addResource(request, resource) {
    if (resource && !/(^|&)resource=/.test(request.body)) {
        request.body += "&resource=" + encodeURIComponent(resource);
    }
    return request;
}

function requestInterceptor(signer, resource) {
    return async function (request) {
        addBearerScheme(request);
        const headers = request.headers || (request.headers = {});
        if (isTokenRequest(request)) {
            addResource(request, resource);
            return signer && !loginScheme.bearer ? signer.sign(request) : request;
        }
        if (!request.loadSpec && !authorizationHeader(headers) && dpopFieldToken()) {
            headers.Authorization = "DPoP " + dpopFieldToken();
        }
        const name = authorizationHeader(headers);
        const [scheme, token] = name ? String(headers[name]).trim().split(/\s+/, 2) : [];
        if (/^dpop$/i.test(scheme || "") && token && signer) {
            const claims = jwtClaims(token);
            if (claims && claims.cnf && claims.cnf.jkt !== (await signer.key).jkt) {
                showNote(NOTE_BOUND_TOKEN); // bound to another client's key: pasted, not from this page's login
            }
            return signer.sign(request, token);
        }
        if (/^bearer$/i.test(scheme || "") && token && isDPoPBound(token)) {
            showNote(NOTE_BOUND_TOKEN);
        }
        return request;
    };
}

// Pasting a bound token in a field of the Authorize dialog shows the note at once.
function watchPastedTokens() {
    document.addEventListener("input", (event) => {
        const field = event.target;
        if (!(field instanceof HTMLInputElement) || !field.closest(".auth-container")) {
            return;
        }
        const token = field.value.trim().replace(/^(bearer|dpop)\s+/i, "");
        if (isDPoPBound(token)) {
            showNote(NOTE_BOUND_TOKEN);
        } else {
            hideNote(NOTE_BOUND_TOKEN);
        }
    });
}

window.addEventListener("load", function () {
    const docs = JSON.parse(document.getElementById("docs-settings").textContent);
    const dpop = docs.dpop !== "off";
    const canSign = Boolean(window.isSecureContext && window.crypto && crypto.subtle);
    const signer = window.dpopSigner = dpop && canSign ? new DPoPSigner() : null;
    if (docs.dpop === "required" && !canSign) {
        showNote(NOTE_NO_WEBCRYPTO);
    }
    watchPastedTokens();
    const carried = window.carriedValues = new CarriedValues();
    const ui = window.ui = SwaggerUIBundle({
        url: docs.specsUrl,
        // a path, made absolute against the address the browser is at: no request header decides it
        oauth2RedirectUrl: new URL(docs.oauth2RedirectUrl, window.location.href).href,
        requestInterceptor: requestInterceptor(signer, docs.resource),
        responseInterceptor: (response) => carried.remember(response),
        validatorUrl: null,
        dom_id: "#swagger-ui",
        presets: [
            SwaggerUIBundle.presets.apis,
            SwaggerUIStandalonePreset.slice(1) // No Topbar
        ],
        plugins: [
            SwaggerUIBundle.plugins.DownloadUrl,
            DPoPFieldPlugin,
            DPoPExplainedPlugin(docs),
            KeptLoginsPlugin(signer),
            StepUpPlugin(LOGIN_SCHEME), // step-up.js
        ],
        onComplete: () => logins.restore(window.ui, signer),
        displayRequestDuration: true,
        operationsSorter: operationsSorter,
        docExpansion: docs.docExpansion
    });
    ui.initOAuth(docs.oauth);
});
