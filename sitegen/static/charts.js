// Progressive enhancement: each chart is already on the page as a static SVG. When the
// vendored Vega bundle is present, redraw the charts that carry their spec interactively
// (tooltips). The static SVG is replaced only once the interactive one has rendered.
(function () {
  "use strict";
  if (typeof window.vegaEmbed !== "function") { return; }
  var specs = document.querySelectorAll('script[type="application/json"][data-chart]');
  Array.prototype.forEach.call(specs, function (element) {
    var target = document.getElementById(element.getAttribute("data-chart"));
    if (!target) { return; }
    var holder = document.createElement("div");
    window.vegaEmbed(holder, JSON.parse(element.textContent), { renderer: "svg", actions: false })
      .then(function () { target.replaceChildren(holder); })
      .catch(function () { /* keep the static chart */ });
  });
})();
