/* Starts Swagger UI on the API docs page from the settings the page carries (no inline script). */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("swagger-settings").textContent);
  config.dom_id = "#swagger-ui";
  config.presets = [window.SwaggerUIBundle.presets.apis];
  window.ui = window.SwaggerUIBundle(config);
})();
