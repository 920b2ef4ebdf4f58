/* Accessibility fixes for the vendored Swagger UI (API docs page), as a Swagger UI plugin, so the
   vendored files stay as they are. Loaded after swagger-ui-bundle.js and before drf-spectacular's
   script, which calls SwaggerUIBundle({..., plugins}): the wrapper below adds this plugin to them.

   - Each operation's summary is a <button> that held the deep link <a href="#/tag/op">, a link
     inside a button (axe "nested-interactive"). The link is rendered without its href; the button
     still opens the operation and the address still follows it (deep linking is a separate plugin).
   - The page went from the API's <h1> straight to each tag's <h3> (axe "heading-order"): an <h2>
     "Endpoints" now heads the operations.
   - The title and description were outside any landmark (axe "region"; Swagger UI puts the
     operations in its own <main>): they are the page's banner (inside Swagger UI's <section>, a <header> needs the role). */
"use strict";
(function () {
  const original = window.SwaggerUIBundle;
  if (typeof original !== "function") return;

  const leadcrmA11y = (system) => ({
    wrapComponents: {
      InfoContainer: (Original) => (props) => system.React.createElement("header", { role: "banner" }, system.React.createElement(Original, props)),
      DeepLink: (Original) => (props) => system.React.createElement(Original, { ...props, enabled: false }),
      operations: (Original) => (props) =>
        system.React.createElement(
          "section",
          { className: "leadcrm-endpoints", "aria-labelledby": "leadcrm-endpoints-title" },
          system.React.createElement("h2", { id: "leadcrm-endpoints-title", className: "leadcrm-endpoints-title" }, "Endpoints"),
          system.React.createElement(Original, props),
        ),
    },
  });

  function SwaggerUIBundle(config) {
    return original({ ...config, plugins: [...(config.plugins || []), leadcrmA11y] });
  }
  Object.assign(SwaggerUIBundle, original); // presets, plugins, ...
  window.SwaggerUIBundle = SwaggerUIBundle;
})();
