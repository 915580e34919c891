/* The dashboard's charts, drawn from the numbers the page embeds as JSON. */
(function () {
  "use strict";

  const data = Review.readJSON("dashboard-data");
  if (!data || !window.Chart) return;
  const palette = Review.palette;
  const outcomeColours = { resolved: palette.good, escalated: palette.meh,
                           abandoned: palette.neutral, other: palette.grid };
  const dayLabel = function (iso) {
    return new Date(iso + "T00:00:00").toLocaleDateString(undefined, { month: "short", day: "numeric" });
  };
  const labels = data.days.map(dayLabel);

  function draw(id, config) {
    const node = document.getElementById(id);
    if (node) new Chart(node, config);
  }

  draw("volume-chart", {
    type: "bar",
    data: {
      labels: labels,
      datasets: data.per_day.map(function (pair) {
        return { label: pair[0], data: pair[1], backgroundColor: outcomeColours[pair[0]],
                 borderRadius: 2, maxBarThickness: 32 };
      }),
    },
    options: {
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom" } },
      scales: { x: { stacked: true, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
                y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
    },
  });

  draw("rules-chart", {
    type: "doughnut",
    data: {
      labels: data.rules.map(function (r) { return r[0].replace(/_/g, " "); }),
      datasets: [{ data: data.rules.map(function (r) { return r[1]; }),
                   backgroundColor: [palette.bad, palette.meh, palette.accent, palette.caller,
                                     palette.agent, palette.neutral, palette.good],
                   borderWidth: 2 }],
    },
    options: { cutout: "62%",
               plugins: { legend: { position: window.innerWidth < 640 ? "bottom" : "right" } } },
  });

  // Only the days that had agent turns: two busy days in a 30-day range are two clear points
  // (joined by a line), not a sliver at the edge of an empty axis.
  const latencyDays = [];
  data.latency_days.median.forEach(function (value, i) { if (value !== null) latencyDays.push(i); });
  const pick = function (values) { return latencyDays.map(function (i) { return values[i]; }); };
  const pointRadius = latencyDays.length > 45 ? 1.5 : latencyDays.length > 14 ? 2.5 : 4;
  draw("latency-chart", {
    type: "line",
    data: {
      labels: latencyDays.map(function (i) { return labels[i]; }),
      datasets: [
        { label: "median", data: pick(data.latency_days.median), borderColor: palette.agent,
          backgroundColor: palette.agent, cubicInterpolationMode: "monotone", pointRadius: pointRadius },
        { label: "p95", data: pick(data.latency_days.p95), borderColor: palette.meh,
          backgroundColor: palette.meh, borderDash: [5, 4], cubicInterpolationMode: "monotone",
          pointRadius: pointRadius, pointStyle: "rectRot" },
      ],
    },
    options: {
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom", labels: { usePointStyle: true } } },
      scales: { y: { beginAtZero: true, title: { display: true, text: "ms" } },
                x: { grid: { display: false }, offset: true,
                     ticks: { maxRotation: 0, autoSkipPadding: 12 } } },
    },
  });

  draw("topics-chart", {
    type: "bar",
    data: {
      labels: data.topics.map(function (t) { return t[0]; }),
      datasets: [{ label: "calls", data: data.topics.map(function (t) { return t[1]; }),
                   backgroundColor: palette.accent, borderRadius: 4, maxBarThickness: 22 }],
    },
    options: {
      indexAxis: "y",
      plugins: { legend: { display: false } },
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { grid: { display: false } } },
    },
  });
})();
