// Vertelpaal dashboards: draws each figure's chart from the numbers in the table beneath it
// (the cells' data-value attributes), so a chart can never show other numbers than its table.
// Loaded as a file (the CSP allows no inline scripts); without it the tables are all there is.
(function () {
  "use strict";

  var PALETTE = ["#0b5394", "#f5a623", "#1a7f37", "#8250df"];

  function text(element) {
    return element ? element.textContent.trim() : "";
  }

  function readTable(table) {
    var series = (table.dataset.series || "").split(",").filter(Boolean).map(Number);
    var headers = table.querySelectorAll("thead th");
    var rows = Array.prototype.filter.call(table.querySelectorAll("tbody tr"), function (row) {
      return row.querySelector("td[data-value]");
    });
    if (table.dataset.rows) {
      rows = rows.slice(0, Number(table.dataset.rows));
    }
    var labels = rows.map(function (row) {
      return text(row.querySelector("th"));
    });
    var colours = rows.map(function (row) {
      return row.dataset.colour || null;
    });
    var datasets = series.map(function (column, number) {
      var single = series.length === 1 && colours.every(Boolean);
      return {
        label: text(headers[column]),
        data: rows.map(function (row) {
          var cell = row.querySelectorAll("td")[column - 1];
          var value = cell ? cell.dataset.value : "";
          return value === "" || value === undefined ? null : Number(value);
        }),
        backgroundColor: single ? colours : PALETTE[number % PALETTE.length],
        borderColor: single ? colours : PALETTE[number % PALETTE.length],
      };
    });
    return { labels: labels, datasets: datasets, across: table.hasAttribute("data-across") };
  }

  function draw(canvas) {
    var table = document.getElementById(canvas.dataset.chartFor);
    if (!table || !window.Chart) {
      return;
    }
    var data = readTable(table);
    if (data.across) {
      // One bar per row: the box grows with the rows so labels stay readable.
      var perRow = 16 + 16 * data.datasets.length;
      canvas.parentElement.style.height = Math.max(120, 50 + perRow * data.labels.length) + "px";
    }
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: data.labels, datasets: data.datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: data.across ? "y" : "x",
        plugins: { legend: { display: data.datasets.length > 1 } },
        scales: {
          x: { beginAtZero: true, ticks: { precision: 0 } },
          y: { beginAtZero: true, ticks: { precision: 0 } },
        },
      },
    });
    canvas.dataset.drawn = "true";
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("canvas[data-chart-for]"), draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
