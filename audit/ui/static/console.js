// The console's only script (no inline scripts: the Content-Security-Policy
// allows scripts from /ui/static only). It adds the viewer's local time next
// to each UTC time, and draws the timeline charts with uPlot.
(function () {
  "use strict";

  function localTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      if (el.dataset.done) { return; }
      el.dataset.done = "1";
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at.getTime())) { return; }
      var span = document.createElement("span");
      span.className = "local";
      span.textContent = " (your time: " + at.toLocaleString(undefined, { timeZoneName: "short" }) + ")";
      el.after(span);
    });
  }

  function shade(windows) {
    return function (u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.fillStyle = "rgba(163, 0, 27, 0.15)";
      windows.forEach(function (w) {
        var x0 = u.valToPos(w[0], "x", true);
        var x1 = u.valToPos(w[1], "x", true);
        ctx.fillRect(x0, u.bbox.top, Math.max(x1 - x0, 2), u.bbox.height);
      });
      ctx.restore();
    };
  }

  function charts(root) {
    if (typeof uPlot === "undefined") { return; }
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) { return; }
      el.dataset.drawn = "1";
      var data = JSON.parse(el.getAttribute("data-chart"));
      if (!data.t.length) { el.textContent = "No events to chart."; return; }
      var options = {
        width: Math.max(el.clientWidth, 320),
        height: 200,
        tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
        scales: { x: { time: true } },
        axes: [{ label: "time (UTC)" }, { label: "events" }],
        series: [{}, { label: "events", stroke: "#0b4fa8", fill: "rgba(11, 79, 168, 0.25)", paths: uPlot.paths.bars({ size: [0.9, 40] }) }],
        hooks: { drawClear: [shade(data.windows || [])] },
      };
      new uPlot(options, [data.t, data.n], el);
    });
  }

  function enhance(root) { localTimes(root); charts(root); }
  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:afterSwap", function (e) { enhance(e.target); });
})();
