// Starts Swagger UI on the served OpenAPI document (an external script: the
// page's Content-Security-Policy allows no inline script).
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  window.ui = window.SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // No call to the public validator: nothing leaves this origin.
    validatorUrl: null,
  });
});
