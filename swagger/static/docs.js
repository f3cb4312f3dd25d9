// Starts Swagger UI with the settings the server put in the page's JSON block (#docs-settings).
// A file rather than an inline script, so the page's Content-Security-Policy can refuse inline code.
"use strict";

// A pasted token without a scheme gets "Bearer "; "Bearer x", "Basic x"... are left alone.
function addBearerScheme(request) {
    const auth = request.headers && request.headers.Authorization;
    if (typeof auth === "string" && auth.trim() && !/\s/.test(auth.trim())) {
        request.headers.Authorization = "Bearer " + auth.trim();
    }
    return request;
}

window.addEventListener("load", function () {
    const docs = JSON.parse(document.getElementById("docs-settings").textContent);
    const ui = window.ui = SwaggerUIBundle({
        url: docs.specsUrl,
        // a path, made absolute against the address the browser is at: no request header decides it
        oauth2RedirectUrl: new URL(docs.oauth2RedirectUrl, window.location.href).href,
        requestInterceptor: addBearerScheme,
        validatorUrl: null,
        dom_id: "#swagger-ui",
        presets: [
            SwaggerUIBundle.presets.apis,
            SwaggerUIStandalonePreset.slice(1) // No Topbar
        ],
        plugins: [
            SwaggerUIBundle.plugins.DownloadUrl
        ],
        displayRequestDuration: true,
        docExpansion: docs.docExpansion
    });
    ui.initOAuth(docs.oauth);
});
