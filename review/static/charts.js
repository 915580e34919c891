/* Shared by the call page and the dashboard: colours from the stylesheet, Chart.js defaults,
   small helpers. Loaded after vendor/chart.umd.js. */
(function () {
  "use strict";

  const css = getComputedStyle(document.documentElement);
  const colour = (name) => css.getPropertyValue(name).trim();
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function clock(seconds, tenths) {
    const s = Math.max(0, seconds || 0);
    const m = Math.floor(s / 60);
    const rest = s - m * 60;
    if (tenths) return m + ":" + rest.toFixed(1).padStart(4, "0");
    return m + ":" + String(Math.floor(rest)).padStart(2, "0");
  }

  function readJSON(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  if (window.Chart) {
    Chart.defaults.font.family = colour("--font") || "system-ui, sans-serif";
    Chart.defaults.font.size = 12;
    Chart.defaults.color = colour("--muted");
    Chart.defaults.borderColor = colour("--grid");
    Chart.defaults.maintainAspectRatio = false;
    Chart.defaults.plugins.legend.labels.boxWidth = 10;
    Chart.defaults.plugins.legend.labels.boxHeight = 10;
    Chart.defaults.plugins.tooltip.padding = 8;
    if (reducedMotion) Chart.defaults.animation = false;
  }

  window.Review = {
    colour: colour,
    clock: clock,
    readJSON: readJSON,
    palette: {
      caller: colour("--caller"), agent: colour("--agent"), accent: colour("--accent"),
      good: colour("--good"), meh: colour("--meh"), bad: colour("--bad"),
      neutral: colour("--neutral"), grid: colour("--grid"), text: colour("--text"),
    },
    mood: function (score) {
      if (score === null || score === undefined) return colour("--neutral");
      if (score <= -0.4) return colour("--bad");
      return score < 0.1 ? colour("--meh") : colour("--good");
    },
  };
})();
