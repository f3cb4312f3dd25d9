// Step-up authentication (RFC 9470) in the docs page. A call refused 401 insufficient_user_authentication shows,
// above its answer, what the API asks of a new login (its challenge's acr_values and max_age) and a button that
// logs in again with them, and prompt=login, through the page's authorization_code login: the Authorize dialog's
// own (Swagger UI's redirect page and callbacks, the page's client, PKCE S256, the extra parameters), so its token
// request goes through the page's requestInterceptor and is bound to the page's DPoP key as every login here.
// Once that login's token is held, the failed call is sent again, once, and its new answer shown in its place.
// Loaded before docs.js, which adds StepUpPlugin to Swagger UI's plugins.
"use strict";

const STEP_UP_ERROR = "insufficient_user_authentication";
const STEP_UP_BUTTON = "Log in again (stronger login)";

// RFC 9110 §11.6.1: the challenges of a WWW-Authenticate value, each {scheme, params}, quoted values unquoted.
function parseChallenges(header) {
    const challenges = [];
    const item = /([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*))?/g;
    for (const [, name, value] of String(header || "").matchAll(item)) {
        if (value === undefined) {
            challenges.push({scheme: name, params: {}});
        } else if (challenges.length) {
            challenges[challenges.length - 1].params[name.toLowerCase()] =
                value.startsWith("\"") ? value.slice(1, -1).replace(/\\(.)/g, "$1") : value;
        }
    }
    return challenges;
}

// What a refused answer (Swagger UI's, immutable) asks of a new login: {acr_values, max_age}, each only when
// the challenge names it; null when the answer is not a step-up refusal.
function stepUpAsked(response) {
    if (!response || response.get("status") !== 401) {
        return null;
    }
    const headers = response.get("headers");
    const all = headers && headers.toJS ? headers.toJS() : headers || {};
    const name = Object.keys(all).find((key) => key.toLowerCase() === "www-authenticate");
    const challenge = parseChallenges(name && all[name]).find((found) => found.params.error === STEP_UP_ERROR);
    if (!challenge) {
        return null;
    }
    const asked = {};
    if (challenge.params.acr_values) {
        asked.acr_values = challenge.params.acr_values;
    }
    if (/^[0-9]+$/.test(challenge.params.max_age || "")) {
        asked.max_age = challenge.params.max_age;
    }
    return asked;
}

function stepUpExplained(asked) {
    const needs = [];
    if (asked.acr_values) {
        needs.push(`a login by one of these methods (acr_values): ${asked.acr_values}`);
    }
    if (asked.max_age) {
        needs.push(`a login at most ${asked.max_age} seconds old (max_age)`);
    }
    return `This operation needs a stronger or more recent login than your token's (RFC 9470 step-up): ` +
        `${needs.join(", and ") || "a new login"}. The button logs you in again at the issuer, asking for ` +
        `exactly that (and prompt=login), then sends this call again with the new token.`;
}

function base64urlBytes(bytes) {
    return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// The scopes the new login asks for: the login's held now, or else those the operation takes from that scheme.
function stepUpScopes(system, scheme, operation) {
    const held = system.authSelectors.authorized().get(scheme);
    const ticked = held && held.get("scopes");
    if (ticked && ticked.size) {
        return ticked.toArray();
    }
    const granted = held && held.getIn(["token", "scope"]);
    if (typeof granted === "string" && granted.trim()) {
        return granted.trim().split(/\s+/);
    }
    const requirements = (operation && operation.get("security")) || system.specSelectors.security();
    const scopes = new Set();
    (requirements || []).forEach((requirement) => (requirement.get(scheme) || []).forEach((scope) => scopes.add(scope)));
    return [...scopes];
}

// The login's URL, as Swagger UI's Authorize dialog builds it (its oauth2-authorize), with `asked` and prompt=login.
async function stepUpLoginUrl(system, schema, auth, asked) {
    const configs = system.authSelectors.getConfigs() || {};
    const params = [["response_type", "code"], ["client_id", auth.clientId],
        ["redirect_uri", system.getConfigs().oauth2RedirectUrl]];
    if (auth.scopes.length) {
        params.push(["scope", auth.scopes.join(configs.scopeSeparator || " ")]);
    }
    params.push(["state", auth.state]);
    if (configs.realm !== undefined) {
        params.push(["realm", configs.realm]);
    }
    if (configs.usePkceWithAuthorizationCodeGrant) {
        auth.codeVerifier = base64urlBytes(crypto.getRandomValues(new Uint8Array(32)));
        const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(auth.codeVerifier));
        params.push(["code_challenge", base64urlBytes(digest)], ["code_challenge_method", "S256"]);
    }
    const extra = {...(configs.additionalQueryStringParams || {}), ...asked, prompt: "login"};
    params.push(...Object.entries(extra).filter(([, value]) => value !== undefined));
    const query = params.map((pair) => pair.map(encodeURIComponent).join("=")).join("&");
    const url = new URL(schema.get("authorizationUrl"), window.location.href).href;
    return url + (url.includes("?") ? "&" : "?") + query;
}

// The logins whose token, once held, sends a refused call again: their auth object -> that call's retry.
const stepUpRetries = new WeakMap();

// Starts the new login in Swagger UI's popup; `failed(message)` is told if it fails. After it, the call at
// `path` and `method` is executed again with the parameters and body it had (Swagger UI's Execute, with the
// new token).
async function stepUpLogin(system, scheme, asked, path, method, failed) {
    const entry = system.authSelectors.definitionsToAuthorize().find((definitions) => definitions.has(scheme));
    if (!entry) {
        throw new Error(`This page has no ${scheme} login to ask for it: log in again under Authorize.`);
    }
    const schema = entry.get(scheme);
    const configs = system.authSelectors.getConfigs() || {};
    const operation = system.specSelectors.specResolvedSubtree(["paths", path, method]) ||
        system.specSelectors.specJson().getIn(["paths", path, method]);
    const auth = {name: scheme, schema, scopes: stepUpScopes(system, scheme, operation),
        clientId: configs.clientId, clientSecret: configs.clientSecret, state: crypto.randomUUID()};
    const url = await stepUpLoginUrl(system, schema, auth, asked);
    stepUpRetries.set(auth, () => system.specActions.execute({operation, path, method}));
    const exchange = configs.useBasicAuthenticationWithAccessCodeGrant ?
        system.authActions.authorizeAccessCodeWithBasicAuthentication : system.authActions.authorizeAccessCodeWithFormParams;
    system.authActions.authPopup(url, {
        auth, state: auth.state, redirectUrl: system.getConfigs().oauth2RedirectUrl, callback: exchange,
        errCb: (error) => {
            stepUpRetries.delete(auth);
            system.errActions.newAuthErr(error);
            failed(error.message);
        },
    });
}

// The offer, above a step-up refusal's answer: what the API asks, and the button that logs in again for it.
function stepUpOffer(system, scheme) {
    const React = system.React;
    const h = React.createElement;
    return function StepUpOffer({asked, path, method}) {
        const [state, setState] = React.useState(null);
        const start = () => {
            setState("Logging in again…");
            stepUpLogin(system, scheme, asked, path, method, setState).catch((error) => setState(error.message));
        };
        return h("div", {className: "step-up-offer", role: "status"},
            h("p", null, stepUpExplained(asked)),
            h("button", {type: "button", className: "btn step-up-login", onClick: start}, STEP_UP_BUTTON),
            state ? h("p", {className: "step-up-state"}, state) : null);
    };
}

// Each answer drawn gets its own number (Swagger UI stores each one as a new immutable object).
const stepUpAnswers = new WeakMap();
let stepUpAnswersSeen = 0;

function stepUpAnswerKey(response) {
    if (!stepUpAnswers.has(response)) {
        stepUpAnswers.set(response, ++stepUpAnswersSeen);
    }
    return stepUpAnswers.get(response);
}

// scheme: the security scheme of the page's authorization_code login.
function StepUpPlugin(scheme) {
    return function () {
        return {
            wrapComponents: {
                liveResponse: (Original, system) => {
                    const Offer = stepUpOffer(system, scheme);
                    return function (props) {
                        const h = system.React.createElement;
                        const asked = stepUpAsked(props.response);
                        if (!asked) {
                            return h(Original, props);
                        }
                        // a new instance per answer: a retry refused again offers afresh
                        const key = stepUpAnswerKey(props.response);
                        return h("div", null, h(Offer, {key, asked, path: props.path, method: props.method}),
                            h(Original, props));
                    };
                },
            },
            statePlugins: {
                auth: {
                    wrapActions: {
                        // the last step of a login: its token is now held, so its retry (if any) can go
                        authorizeOauth2WithPersistOption: (original) => function (payload) {
                            const result = original(payload);
                            const retry = payload && stepUpRetries.get(payload.auth);
                            if (retry) {
                                stepUpRetries.delete(payload.auth);
                                retry();
                            }
                            return result;
                        },
                    },
                },
            },
        };
    };
}
