// A standard OpenID provider for the docs page's login test: panva's oidc-provider (certified), with
// resource indicators (RFC 8707) and no default resource, so a login that does not name the API as
// `resource` gets no token for it; JWT access tokens for the API, DPoP, PKCE, and its development login
// and consent pages. Usage: node provider.js PORT AUDIENCE REDIRECT_URI; prints "listening ISSUER".
import Provider from "oidc-provider";

const [port, audience, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
    clients: [{
        client_id: "docs-page",
        token_endpoint_auth_method: "none",
        redirect_uris: [redirectUri],
        grant_types: ["authorization_code"],
        response_types: ["code"],
    }],
    clientBasedCORS: () => true, // the docs page exchanges the code from its own origin
    features: {
        devInteractions: {enabled: true},
        dPoP: {enabled: true},
        resourceIndicators: {
            enabled: true,
            defaultResource: () => undefined,
            getResourceServerInfo: (ctx, resource) => {
                if (resource !== audience) {
                    throw new Error(`unknown resource ${resource}`);
                }
                return {scope: "read:messages", audience, accessTokenFormat: "jwt", jwt: {sign: {alg: "RS256"}}};
            },
        },
    },
    pkce: {required: () => true},
});
provider.listen(Number(port), "127.0.0.1", () => console.log(`listening ${issuer}`));
