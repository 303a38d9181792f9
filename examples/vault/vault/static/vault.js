// Vault's progressive enhancements. Every page works without this file; it is loaded with
// the response's CSP nonce and its Subresource Integrity digest, and never needs inline
// script or inline event handlers.
"use strict";

// Styles for script-only features hang off html.js (the server renders html.no-js).
document.documentElement.classList.replace("no-js", "js");
