/* kspec report: draws the charts (uPlot) and the model graph (dagre -> SVG) from the page data in
   <script type="application/json" id="kspec-data">. Tables, texts and images are already in the HTML; this
   script only adds drawings. It never writes HTML from data: only textContent and createElement(NS).
   Any missing piece is skipped; any exception is shown in a .kspec-error box. When done it sets
   document.body.dataset.ready = "1". */
(function () {
  "use strict";

  var PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#db2777", "#65a30d",
    "#a16207", "#475569"];
  var SVGNS = "http://www.w3.org/2000/svg";
  var EVENT_LABELS = { lr: "lr", early_stop: "early stop", checkpoint: "checkpoint", prune: "prune",
    resume: "resume", nan: "NaN" };
  var EVENT_COLOURS = { lr: "#9333ea", early_stop: "#dc2626", checkpoint: "#16a34a", prune: "#ea580c",
    resume: "#0891b2", nan: "#b91c1c" };
  var plots = [];

  function colour(i) { return PALETTE[i % PALETTE.length]; }
  function arr(x) { return Array.isArray(x) ? x : []; }
  function num(x, digits) {
    return typeof x === "number" && isFinite(x) ? x.toFixed(digits === undefined ? 3 : digits) : "–";
  }

  function showError(where, err) {
    console.error("kspec report (" + where + "):", err);
    var box = document.querySelector(".kspec-error");
    if (!box) {
      box = document.createElement("div");
      box.className = "kspec-error";
      (document.querySelector("main") || document.body).prepend(box);
    }
    box.hidden = false;
    var line = document.createElement("div");
    line.textContent = "Could not draw " + where + ": " + (err && err.message ? err.message : String(err));
    box.appendChild(line);
  }

  function guard(where, fn) {
    try { fn(); } catch (err) { showError(where, err); }
  }

  function widthOf(el) {
    var w = el.clientWidth || (el.parentElement && el.parentElement.clientWidth) || 600;
    return Math.max(240, Math.floor(w));
  }

  function makePlot(el, opts, data) {
    if (typeof uPlot === "undefined") throw new Error("uPlot is missing");
    opts.width = widthOf(el);
    opts.height = opts.height || 260;
    var plot = new uPlot(opts, data, el);
    plots.push({ plot: plot, el: el });
    return plot;
  }

  function axes(xlabel, ylabel) {
    var grid = { stroke: "#e5e7eb", width: 1 };
    return [{ label: xlabel, grid: grid, ticks: grid }, { label: ylabel, grid: grid, ticks: grid }];
  }

  /* Vertical dashed lines with a small label at each event's epoch. */
  function eventsHook(events) {
    return function (u) {
      var ctx = u.ctx, top = u.bbox.top, bottom = u.bbox.top + u.bbox.height, seen = {};
      ctx.save();
      ctx.font = 11 * devicePixelRatio + "px system-ui, sans-serif";
      ctx.textBaseline = "top";
      events.forEach(function (ev) {
        if (typeof ev.epoch !== "number") return;
        var x = Math.round(u.valToPos(ev.epoch, "x", true));
        if (x < u.bbox.left - 1 || x > u.bbox.left + u.bbox.width + 1) return;
        var stack = seen[x] = (seen[x] || 0) + 1;
        var c = EVENT_COLOURS[ev.kind] || "#475569";
        ctx.strokeStyle = c;
        ctx.fillStyle = c;
        ctx.lineWidth = devicePixelRatio;
        ctx.setLineDash([4 * devicePixelRatio, 4 * devicePixelRatio]);
        ctx.beginPath();
        ctx.moveTo(x + 0.5, top);
        ctx.lineTo(x + 0.5, bottom);
        ctx.stroke();
        ctx.fillText(EVENT_LABELS[ev.kind] || String(ev.kind), x + 3 * devicePixelRatio,
          top + (2 + 13 * (stack - 1)) * devicePixelRatio);
      });
      ctx.restore();
    };
  }

  /* A chart of series over a shared x (epochs): [{label, values, dash, colour}]. */
  function lineChart(el, x, series, o) {
    o = o || {};
    var opts = {
      scales: { x: { time: false } },
      axes: axes(o.xlabel || "epoch", o.ylabel || ""),
      cursor: { drag: { x: true, y: false } },
      series: [{ label: o.xlabel || "epoch" }],
      hooks: o.events && o.events.length ? { draw: [eventsHook(o.events)] } : {},
    };
    var data = [x];
    series.forEach(function (s, i) {
      var spec = { label: s.label, stroke: s.colour || colour(i), width: 2, spanGaps: true,
        value: function (u, v) { return v == null ? "–" : num(v, 4); } };
      if (s.dash) spec.dash = [6, 4];
      if (s.points) { spec.paths = function () { return null; }; spec.points = { show: true, size: 7, fill: spec.stroke }; }
      if (s.stepped) spec.paths = uPlot.paths.stepped({ align: 1 });
      data.push(x.map(function (_, j) { var v = arr(s.values)[j]; return typeof v === "number" ? v : null; }));
      opts.series.push(spec);
    });
    return makePlot(el, opts, data);
  }

  /* A chart where each series has its own x: [{label, x, y, dash, points, colour}] (uPlot mode 2). */
  function xyChart(el, series, o) {
    o = o || {};
    var opts = {
      mode: 2,
      scales: { x: { time: false, range: o.xrange || null }, y: { range: o.yrange || null } },
      axes: axes(o.xlabel, o.ylabel),
      cursor: { drag: { x: true, y: true } },
      legend: { live: false },
      series: [null],
    };
    var data = [null], scatter = [];
    series.forEach(function (s, i) {
      var c = s.colour || colour(i);
      var spec = { label: s.label, stroke: c, width: s.width || 2, fill: null,
        points: { show: !!s.points, size: s.size || 5, fill: c, stroke: c } };
      if (s.dash) spec.dash = [5, 4];
      if (s.points) {
        if (!s.line) spec.paths = function () { return null; };
        spec.points = { show: false, fill: c, stroke: c };
        scatter.push({ idx: i + 1, size: s.size || 5, colour: c });
      }
      opts.series.push(spec);
      data.push([arr(s.x), arr(s.y)]);
    });
    if (!o.xrange || !o.yrange) {
      var lo = Infinity, hi = -Infinity;
      series.forEach(function (s) { arr(s.x).concat(arr(s.y)).forEach(function (v) {
        if (typeof v === "number") { lo = Math.min(lo, v); hi = Math.max(hi, v); } }); });
      if (!isFinite(lo)) { lo = 0; hi = 1; }
      if (hi === lo) { hi = lo + 1; }
      var pad = (hi - lo) * 0.04;
      opts.scales.x.range = o.xrange || [lo - pad, hi + pad];
      opts.scales.y.range = o.yrange || (o.square ? [lo - pad, hi + pad] : null);
    }
    if (scatter.length) opts.hooks = { draw: [scatterHook(scatter)] };
    return makePlot(el, opts, data);
  }

  /* Points-only series of a mode-2 chart, drawn as dots (uPlot draws no points without a path there). */
  function scatterHook(scatter) {
    return function (u) {
      var ctx = u.ctx, b = u.bbox;
      ctx.save();
      ctx.beginPath();
      ctx.rect(b.left, b.top, b.width, b.height);
      ctx.clip();
      scatter.forEach(function (s) {
        if (!u.series[s.idx].show) return;
        var xs = u.data[s.idx][0], ys = u.data[s.idx][1], r = (s.size / 2) * devicePixelRatio;
        ctx.fillStyle = s.colour;
        ctx.beginPath();
        for (var j = 0; j < xs.length; j++) {
          if (typeof xs[j] !== "number" || typeof ys[j] !== "number") continue;
          var x = u.valToPos(xs[j], "x", true), y = u.valToPos(ys[j], "y", true);
          ctx.moveTo(x + r, y);
          ctx.arc(x, y, r, 0, 2 * Math.PI);
        }
        ctx.fill();
      });
      ctx.restore();
    };
  }

  function diagonal(lo, hi) {
    return { label: "ideal", x: [lo, hi], y: [lo, hi], dash: true, colour: "#9ca3af", width: 1 };
  }

  /* ---- curves ---- */
  function drawCurves(run, charts) {
    var h = run.history || {};
    var x = arr(h.epoch);
    arr(run.panels).forEach(function (panel, i) {
      var el = charts["curve-" + run.id + "-" + i];
      if (!el || !x.length) return;
      var bases = [];
      var series = arr(panel.series).filter(function (name) { return Array.isArray(h[name]); }).map(function (name) {
        var val = name.indexOf("val_") === 0;
        var base = val ? name.slice(4) : name;
        if (bases.indexOf(base) < 0) bases.push(base);
        return { label: name, values: h[name], dash: val, colour: colour(bases.indexOf(base)) };
      });
      if (series.length) lineChart(el, x, series, { ylabel: panel.metric, events: arr(run.events) });
    });
  }

  /* ---- analysis ---- */
  function drawClassifier(run, out, k, charts) {
    var curves = arr(out.curves);
    var pr = charts["pr-" + run.id + "-" + k], roc = charts["roc-" + run.id + "-" + k];
    var cal = charts["cal-" + run.id + "-" + k];
    if (pr && curves.length) {
      xyChart(pr, curves.map(function (c) {
        return { label: c["class"] + " (AP " + num(c.ap) + ")", x: arr(c.pr && c.pr.recall), y: arr(c.pr && c.pr.precision) };
      }), { xlabel: "recall", ylabel: "precision", xrange: [0, 1], yrange: [0, 1.02] });
    }
    if (roc && curves.length) {
      xyChart(roc, curves.map(function (c) {
        return { label: c["class"] + " (AUC " + num(c.auc) + ")", x: arr(c.roc && c.roc.fpr), y: arr(c.roc && c.roc.tpr) };
      }).concat([diagonal(0, 1)]), { xlabel: "false positive rate", ylabel: "true positive rate", xrange: [0, 1], yrange: [0, 1.02] });
    }
    var cb = out.calibration;
    if (cal && cb) {
      xyChart(cal, [{ label: "model (ECE " + num(cb.ece) + ")", x: arr(cb.confidence), y: arr(cb.accuracy), points: true, line: true },
        diagonal(0, 1)], { xlabel: "confidence", ylabel: "accuracy", xrange: [0, 1], yrange: [0, 1.02] });
    }
  }

  function drawRegression(run, out, k, charts) {
    var sc = charts["scatter-" + run.id + "-" + k], rh = charts["resid-" + run.id + "-" + k];
    var t = arr(out["true"]), p = arr(out.pred);
    if (sc && t.length) {
      var all = t.concat(p).filter(function (v) { return typeof v === "number"; });
      var lo = Math.min.apply(null, all), hi = Math.max.apply(null, all);
      xyChart(sc, [{ label: "examples", x: t, y: p, points: true, size: 4, colour: "rgba(37,99,235,0.55)" },
        diagonal(lo, hi)], { xlabel: "true", ylabel: "predicted", square: true });
    }
    var hist = out.residual_hist;
    if (rh && hist && arr(hist.counts).length) {
      var e = arr(hist.edges), centres = arr(hist.counts).map(function (_, i) { return (e[i] + e[i + 1]) / 2; });
      var opts = {
        scales: { x: { time: false, range: [e[0], e[e.length - 1]] }, y: { range: function (u, lo, hi) { return [0, hi * 1.05 || 1]; } } },
        axes: axes("residual (predicted − true)", "examples"),
        series: [{ label: "residual" }, { label: "examples", stroke: colour(0), fill: "rgba(37,99,235,0.35)",
          paths: uPlot.paths.bars({ size: [0.95, 100] }), points: { show: false } }],
      };
      makePlot(rh, opts, [centres, arr(hist.counts)]);
    }
  }

  function drawAnalysis(run, charts) {
    var a = run.analysis;
    if (!a) return;
    arr(a.outputs).forEach(function (out, k) {
      guard("the analysis of output " + out.name, function () {
        if (out.kind === "classification") drawClassifier(run, out, k, charts);
        else if (out.kind === "regression") drawRegression(run, out, k, charts);
      });
    });
  }

  /* ---- graph ---- */
  function Graph(run, el) {
    this.run = run;
    this.el = el;
    this.g = run.graph || {};
    this.collapsed = Object.create(null);
    var self = this;
    arr(this.g.collapsed).forEach(function (p) { self.collapsed[p] = true; });
    this.draw();
  }

  /* The collapsed group a node is hidden in (the outermost one), or null. */
  Graph.prototype.hiddenIn = function (node) {
    var groups = arr(node.groups);
    for (var i = 0; i < groups.length; i++) if (this.collapsed[groups[i]]) return groups[i];
    return null;
  };

  Graph.prototype.layout = function () {
    var self = this, groups = this.g.groups || {};
    var g = new dagre.graphlib.Graph({ compound: true });
    g.setGraph({ rankdir: "TB", nodesep: 22, ranksep: 34, marginx: 12, marginy: 12 });
    g.setDefaultEdgeLabel(function () { return {}; });
    var rep = Object.create(null), clusters = Object.create(null);
    function box(lines) {
      var w = 0;
      lines.forEach(function (l) { w = Math.max(w, l.length); });
      return { width: Math.max(90, w * 6.6 + 20), height: lines.length * 14 + 12 };
    }
    function addCluster(prefix) {
      if (clusters[prefix]) return;
      clusters[prefix] = true;
      var info = groups[prefix] || {};
      g.setNode("cluster:" + prefix, { kind: "cluster", prefix: prefix, label: "block " + (info.block || prefix) + " · " + prefix, paddingTop: 22 });
      if (info.parent && !self.collapsed[info.parent]) {
        addCluster(info.parent);
        g.setParent("cluster:" + prefix, "cluster:" + info.parent);
      }
    }
    arr(this.g.nodes).forEach(function (n) {
      var hidden = self.hiddenIn(n);
      if (hidden) {
        rep[n.id] = "group:" + hidden;
        if (!g.hasNode(rep[n.id])) {
          var info = groups[hidden] || {};
          var lines = ["block " + (info.block || hidden) + " ×" + (info.nodes || 0) + " nodes", hidden];
          if (info.shape) lines.push(String(info.shape));
          if (typeof info.params === "number") lines.push(info.params.toLocaleString("en-US") + " params");
          var b = box(lines.concat(["+ "]));
          g.setNode(rep[n.id], { kind: "group", prefix: hidden, lines: lines, width: b.width + 16, height: b.height });
          var parent = (groups[hidden] || {}).parent;
          if (parent) { addCluster(parent); g.setParent(rep[n.id], "cluster:" + parent); }
        }
        return;
      }
      rep[n.id] = "node:" + n.id;
      var lines2 = [n.id, n.type + (n.shares ? " (shares " + n.shares + ")" : ""), String(n.shape || ""),
        (n.params || 0).toLocaleString("en") + " params"];
      var b2 = box(lines2);
      g.setNode(rep[n.id], { kind: "node", node: n, lines: lines2, width: b2.width, height: b2.height });
      var gs = arr(n.groups);
      if (gs.length) { addCluster(gs[gs.length - 1]); g.setParent(rep[n.id], "cluster:" + gs[gs.length - 1]); }
    });
    arr(this.g.edges).forEach(function (e) {
      var a = rep[e[0]], b = rep[e[1]];
      if (a && b && a !== b && !g.hasEdge(a, b)) g.setEdge(a, b);
    });
    dagre.layout(g);
    var shared = [];
    arr(this.g.nodes).forEach(function (n) {
      if (n.shares && rep[n.id] && rep[n.shares] && rep[n.id] !== rep[n.shares]) shared.push([rep[n.id], rep[n.shares]]);
    });
    return { g: g, shared: shared };
  };

  function svg(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    if (parent) parent.appendChild(e);
    return e;
  }

  function text(parent, x, y, s, cls) {
    var t = svg("text", { x: x, y: y, "class": cls || "" }, parent);
    t.textContent = s;
    return t;
  }

  Graph.prototype.toggle = function (prefix) {
    if (this.collapsed[prefix]) delete this.collapsed[prefix];
    else this.collapsed[prefix] = true;
    var self = this;
    guard("the graph of " + this.run.label, function () { self.draw(); });
  };

  Graph.prototype.draw = function () {
    var self = this, L = this.layout(), g = L.g, gi = g.graph();
    var marker = "arrow-" + this.run.id;
    var root = svg("svg", { width: Math.ceil(gi.width || 100), height: Math.ceil(gi.height || 100), "class": "kgraph",
      role: "img", "aria-label": "model graph" });
    var defs = svg("defs", {}, root);
    var m = svg("marker", { id: marker, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
    svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#6b7280" }, m);
    var layers = { clusters: svg("g", {}, root), edges: svg("g", {}, root), nodes: svg("g", {}, root) };
    // clusters: parents first, so that inner boxes are drawn over outer ones
    g.nodes().filter(function (id) { return g.node(id).kind === "cluster"; }).sort(function (a, b) {
      return a.split("/").length - b.split("/").length;
    }).forEach(function (id) {
      var c = g.node(id), x = c.x - c.width / 2, y = c.y - c.height / 2;
      var grp = svg("g", { "class": "cluster", "data-group": c.prefix, tabindex: 0 }, layers.clusters);
      svg("rect", { x: x, y: y, width: c.width, height: c.height, rx: 8 }, grp);
      text(grp, x + 8, y + 14, "− " + c.label, "cluster-label");
      svg("title", {}, grp).textContent = "click to collapse " + c.prefix;
      grp.addEventListener("click", function (ev) { ev.stopPropagation(); self.toggle(c.prefix); });
    });
    g.edges().forEach(function (e) {
      var pts = arr(g.edge(e).points);
      if (!pts.length) return;
      var d = pts.map(function (p, i) { return (i ? "L" : "M") + p.x.toFixed(1) + "," + p.y.toFixed(1); }).join(" ");
      svg("path", { d: d, "class": "edge", "marker-end": "url(#" + marker + ")" }, layers.edges);
    });
    L.shared.forEach(function (pair) {
      var a = g.node(pair[0]), b = g.node(pair[1]);
      var mx = (a.x + b.x) / 2 + 30, my = (a.y + b.y) / 2;
      svg("path", { d: "M" + a.x + "," + a.y + " Q" + mx + "," + my + " " + b.x + "," + b.y, "class": "edge shared" }, layers.edges);
    });
    g.nodes().forEach(function (id) {
      var n = g.node(id);
      if (n.kind === "cluster") return;
      var x = n.x - n.width / 2, y = n.y - n.height / 2;
      var grp = svg("g", { "class": "node " + n.kind, "data-node": id }, layers.nodes);
      if (n.kind === "node") {
        var role = n.node.role || "layer";
        grp.setAttribute("class", "node role-" + role + (n.node.shares ? " shares" : ""));
        svg("title", {}, grp).textContent = n.node.id + "\n" + n.node.type + "\noutput " + n.node.shape + "\n" +
          (n.node.params || 0).toLocaleString("en") + " params" + (n.node.shares ? "\nreuses the layer of " + n.node.shares : "");
      } else {
        grp.setAttribute("data-group", n.prefix);
        grp.setAttribute("tabindex", "0");
        svg("title", {}, grp).textContent = "click to expand " + n.prefix;
        grp.addEventListener("click", function () { self.toggle(n.prefix); });
      }
      svg("rect", { x: x, y: y, width: n.width, height: n.height, rx: 6 }, grp);
      n.lines.forEach(function (line, i) {
        text(grp, x + 10, y + 18 + i * 14, (n.kind === "group" && i === 0 ? "+ " : "") + line, i === 0 ? "title" : "");
      });
    });
    this.el.replaceChildren(root);
  };

  /* ---- comparison and study ---- */
  function drawComparison(cmp, charts) {
    arr(cmp.curves).forEach(function (c, i) {
      var el = charts["compare-" + i];
      if (!el) return;
      var labels = Object.keys(c.series || {});
      lineChart(el, arr(c.epochs), labels.map(function (label, j) {
        return { label: label, values: c.series[label], colour: colour(j) };
      }), { ylabel: c.metric });
    });
  }

  function drawStudy(study, charts) {
    var el = charts["study-history"];
    var trials = arr(study.trials);
    if (!el || !trials.length) return;
    var x = trials.map(function (t) { return t.number; });
    var values = trials.map(function (t) { return typeof t.value === "number" ? t.value : null; });
    var best = null, max = study.direction !== "minimize";
    var running = values.map(function (v) {
      if (v !== null && (best === null || (max ? v > best : v < best))) best = v;
      return best;
    });
    lineChart(el, x, [{ label: study.metric || "objective", values: values, points: true, colour: colour(0) },
      { label: "best so far", values: running, stepped: true, colour: colour(2) }], { xlabel: "trial", ylabel: study.metric });
  }

  function resize() {
    plots.forEach(function (p) { p.plot.setSize({ width: widthOf(p.el), height: p.plot.height }); });
  }

  function main() {
    var node = document.getElementById("kspec-data");
    var data = JSON.parse(node ? node.textContent : "{}");
    var charts = {};
    document.querySelectorAll("[data-chart]").forEach(function (el) { charts[el.getAttribute("data-chart")] = el; });
    arr(data.runs).forEach(function (run) {
      var el = charts["graph-" + run.id];
      if (el && run.graph && arr(run.graph.nodes).length) {
        guard("the graph of " + run.label, function () {
          if (typeof dagre === "undefined") throw new Error("dagre is missing");
          new Graph(run, el);
        });
      }
      guard("the curves of " + run.label, function () { drawCurves(run, charts); });
      guard("the analysis of " + run.label, function () { drawAnalysis(run, charts); });
    });
    if (data.comparison) guard("the comparison", function () { drawComparison(data.comparison, charts); });
    if (data.study) guard("the study", function () { drawStudy(data.study, charts); });
    var timer = null;
    window.addEventListener("resize", function () { clearTimeout(timer); timer = setTimeout(resize, 150); });
  }

  function start() {
    guard("the page", main);
    document.body.dataset.ready = "1";
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
