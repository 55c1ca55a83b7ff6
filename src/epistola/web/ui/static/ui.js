// Live counters: every element with data-poll fetches its JSON every 2 s and fills data-field /
// data-count children. No framework, nothing from the network but this server.
(function () {
  function update(el, data) {
    el.querySelectorAll("[data-field]").forEach(function (node) {
      var name = node.getAttribute("data-field");
      if (name === "bar") { node.style.width = (data.total ? 100 * data.done / data.total : 0) + "%"; }
      else if (name in data) { node.textContent = data[name]; }
    });
    el.querySelectorAll("[data-count]").forEach(function (node) {
      node.textContent = (data.counts && data.counts[node.getAttribute("data-count")]) || 0;
    });
  }
  function poll(el) {
    var url = el.getAttribute("data-poll");
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        update(el, data);
        if (data.status === "running" || data.status === "paused") { setTimeout(function () { poll(el); }, 2000); }
      }).catch(function () { setTimeout(function () { poll(el); }, 5000); });
  }
  document.querySelectorAll("[data-poll]").forEach(poll);
})();
