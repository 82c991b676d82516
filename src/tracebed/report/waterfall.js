/* Draws each trace's waterfall from the JSON in #tracebed-data. Click a row for its
   attributes; click the caret to fold its subtree. No dependencies, works from file://. */
(function () {
  "use strict";
  var source = document.getElementById("tracebed-data");
  if (!source) { return; }
  var data = JSON.parse(source.textContent);

  function fmt(ms) {
    if (ms >= 1000) { return (ms / 1000).toFixed(2) + "s"; }
    if (ms >= 1) { return ms.toFixed(1) + "ms"; }
    return Math.round(ms * 1000) + "\u00b5s";
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function pct(x) { return (Math.max(0, Math.min(1, x)) * 100).toFixed(3) + "%"; }
  function table(title, pairs, into) {
    if (!pairs.length) { return; }
    into.appendChild(el("h4", null, title));
    var t = el("table");
    pairs.forEach(function (p) {
      var tr = el("tr");
      tr.appendChild(el("th", null, p[0]));
      tr.appendChild(el("td", null, p[1]));
      t.appendChild(tr);
    });
    into.appendChild(t);
  }
  function details(span) {
    var box = el("div", "wf-details");
    var status = span.status + (span.statusMessage ? ": " + span.statusMessage : "");
    table("span", [
      ["name", span.name], ["service", span.service || "(no service.name)"], ["kind", span.kind],
      ["status", status], ["start", "+" + fmt(span.startMs)], ["duration", fmt(span.durMs)],
      ["span id", span.spanId], ["parent id", span.parentId || "(root)" ],
      ["scope", span.scope || "-"]
    ], box);
    table("attributes", span.attributes, box);
    span.events.forEach(function (e) {
      table("event " + e.name + " at +" + fmt(e.atMs), e.attributes.length ? e.attributes : [["", "(no attributes)"]], box);
    });
    span.links.forEach(function (l) {
      table("link to " + l.traceId + " / " + l.spanId, l.attributes.length ? l.attributes : [["", "(no attributes)"]], box);
    });
    table("resource", span.resource, box);
    return box;
  }
  function tooltip(span) {
    var lines = [span.service + ": " + span.name, span.kind + ", " + fmt(span.durMs) + ", status " + span.status];
    if (span.statusMessage) { lines.push(span.statusMessage); }
    if (span.orphan) { lines.push("orphan: parent " + span.parentId + " not received"); }
    span.attributes.slice(0, 12).forEach(function (p) { lines.push(p[0] + " = " + p[1].slice(0, 120)); });
    if (span.attributes.length > 12) { lines.push("\u2026 click for all " + span.attributes.length + " attributes"); }
    return lines.join("\n");
  }

  // A log record as a row under its span: severity and body on the left, a tick at its time.
  function logRow(log, depth, total) {
    var row = el("div", "wf-log" + (log.error ? " error" : ""));
    var label = el("div", "wf-label");
    label.style.paddingLeft = (18 + depth * 14) + "px";
    label.appendChild(el("span", "wf-sev", log.severity));
    label.appendChild(el("span", "wf-body", log.body));
    var attrs = log.attributes.map(function (p) { return p[0] + "=" + p[1]; }).join(" ");
    if (attrs) { label.appendChild(el("span", "wf-logattrs", attrs)); }
    row.title = (log.service ? log.service + ": " : "") + log.severity + " " + log.body +
      (attrs ? "\n" + log.attributes.map(function (p) { return p[0] + " = " + p[1].slice(0, 120); }).join("\n") : "");
    var track = el("div", "wf-track");
    if (log.atMs !== null) {
      var mark = el("div", "wf-logmark");
      mark.style.left = pct(log.atMs / total);
      track.appendChild(mark);
    }
    row.appendChild(label);
    row.appendChild(track);
    return row;
  }

  // A conformance finding as a row under its span: level, finding id, key, message.
  function findingRow(f, depth) {
    var row = el("div", "wf-finding " + f.level + (f.known ? " known" : ""));
    row.setAttribute("data-finding-id", f.id);
    var label = el("div", "wf-label");
    label.style.paddingLeft = (18 + depth * 14) + "px";
    label.appendChild(el("span", "wf-level", f.level));
    label.appendChild(el("span", "wf-fid", f.id));
    label.appendChild(el("span", "wf-fkey", f.key));
    label.appendChild(el("span", "wf-fmsg", f.message));
    if (f.known) { label.appendChild(el("span", "wf-known", "known: " + f.known)); }
    row.title = f.level + " " + f.id + "\n" + f.message + (f.known ? "\nknown: " + f.known : "");
    row.appendChild(label);
    return row;
  }

  function findingSummary(findings) {
    var counts = {}, known = 0;
    findings.forEach(function (f) {
      counts[f.level] = (counts[f.level] || 0) + 1;
      if (f.known) { known += 1; }
    });
    var parts = ["violation", "improvement", "information"].filter(function (l) { return counts[l]; })
      .map(function (l) { return counts[l] + " " + l + (counts[l] > 1 && l !== "information" ? "s" : ""); });
    return findings.length + " conformance finding" + (findings.length > 1 ? "s" : "") + ": " +
      parts.join(", ") + (known ? " (" + known + " known)" : "");
  }

  function render(trace, host) {
    host.textContent = "";
    var total = trace.durationMs > 0 ? trace.durationMs : 0.001;
    var axis = el("div", "wf-axis");
    axis.appendChild(el("div", "wf-label", "service: span"));
    var ticks = el("div", "wf-track");
    for (var i = 0; i < 4; i++) {
      var tick = el("div", "wf-tick", fmt(total * i / 4));
      tick.style.left = pct(i / 4);
      ticks.appendChild(tick);
    }
    axis.appendChild(ticks);
    host.appendChild(axis);
    var rows = [];
    trace.spans.forEach(function (span) {
      var color = trace.colors[span.service] || "#888";
      var row = el("div", "wf-row" + (span.error ? " error" : "") + (span.orphan ? " orphan" : ""));
      row.setAttribute("data-span-id", span.spanId);
      row.setAttribute("data-depth", String(span.depth));
      row.setAttribute("tabindex", "0");
      row.title = tooltip(span);
      var label = el("div", "wf-label");
      label.style.paddingLeft = (4 + span.depth * 14) + "px";
      var caret = el("span", "wf-caret", span.children ? "\u25be" : "");
      var chip = el("span", "chip");
      chip.style.background = color;
      label.appendChild(caret);
      label.appendChild(chip);
      label.appendChild(el("span", "wf-svc", span.service || "?"));
      label.appendChild(el("span", "wf-name", span.name));
      if (span.error) { label.appendChild(el("span", "wf-err", "error")); }
      var track = el("div", "wf-track");
      var bar = el("div", "wf-bar" + (span.error ? " error" : ""));
      var left = span.startMs / total, width = span.durMs / total;
      bar.style.left = pct(left);
      bar.style.width = pct(width);
      bar.style.backgroundColor = color;
      var dur = el("span", "wf-dur", fmt(span.durMs));
      // Duration text: inside a wide bar, else after it, else (near the right edge) before it.
      if (width > 0.15) {
        dur.className += " inside";
        dur.style.right = "calc(" + pct(1 - left - width) + " + 4px)";
      } else if (left + width > 0.85) {
        dur.style.right = "calc(" + pct(1 - left) + " + 4px)";
      } else {
        dur.style.left = "calc(" + pct(left + width) + " + 4px)";
      }
      track.appendChild(bar);
      track.appendChild(dur);
      row.appendChild(label);
      row.appendChild(track);
      host.appendChild(row);
      var logRows = (span.logs || []).map(function (log) {
        var r = logRow(log, span.depth, total);
        host.appendChild(r);
        return r;
      });
      // Conformance findings: one summary row under the span, which opens its findings; open
      // from the start when a violation is not a known one (what a failing check is about).
      var findings = span.findings || [];
      var findingRows = [];
      var entry = { span: span, row: row, logs: logRows, findings: findingRows, box: null,
                    open: false, folded: false, findingsOpen: false };
      if (findings.length) {
        var toggle = el("div", "wf-findings-toggle");
        toggle.setAttribute("tabindex", "0");
        var tlabel = el("div", "wf-label");
        tlabel.style.paddingLeft = (18 + span.depth * 14) + "px";
        var fresh = findings.filter(function (f) { return f.level === "violation" && !f.known; });
        tlabel.textContent = "\u25b8 " + findingSummary(findings);
        if (fresh.length) { toggle.className += " fresh"; }
        toggle.appendChild(tlabel);
        host.appendChild(toggle);
        logRows.push(toggle);  // folds with its span, as the log rows do
        findings.forEach(function (f) {
          var r = findingRow(f, span.depth);
          host.appendChild(r);
          findingRows.push(r);
        });
        var flip = function () {
          entry.findingsOpen = !entry.findingsOpen;
          tlabel.textContent = (entry.findingsOpen ? "\u25be " : "\u25b8 ") + findingSummary(findings);
          layout();
        };
        toggle.addEventListener("click", flip);
        toggle.addEventListener("keydown", function (ev) {
          if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); flip(); }
        });
        entry.findingsOpen = fresh.length > 0;
        tlabel.textContent = (entry.findingsOpen ? "\u25be " : "\u25b8 ") + findingSummary(findings);
      }
      rows.push(entry);
      row.addEventListener("click", function (ev) {
        if (ev.target === caret && span.children) {
          entry.folded = !entry.folded;
          caret.textContent = entry.folded ? "\u25b8" : "\u25be";
          layout();
          return;
        }
        if (!entry.box) {
          entry.box = details(span);
          var below = logRows.concat(findingRows);
          var after = below.length ? below[below.length - 1] : row;
          host.insertBefore(entry.box, after.nextSibling);
        }
        entry.open = !entry.open;
        row.classList.toggle("open", entry.open);
        entry.box.hidden = !entry.open;
      });
      row.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); row.click(); }
      });
    });
    function layout() {
      var hideDeeperThan = Infinity;
      rows.forEach(function (entry) {
        var depth = entry.span.depth;
        var hidden = depth > hideDeeperThan;
        if (!hidden) { hideDeeperThan = entry.folded ? depth : Infinity; }
        entry.row.hidden = hidden;
        entry.logs.forEach(function (r) { r.hidden = hidden; });
        entry.findings.forEach(function (r) { r.hidden = hidden || !entry.findingsOpen; });
        if (entry.box) { entry.box.hidden = hidden || !entry.open; }
      });
    }
    layout();
    var loose = trace.looseLogs || [];
    if (loose.length) {
      host.appendChild(el("div", "wf-loose", "log records with no span of this trace (" + loose.length + ")"));
      loose.forEach(function (log) { host.appendChild(logRow(log, 0, total)); });
    }
    if (trace.truncated) {
      host.appendChild(el("p", "empty", "showing " + trace.spans.length + " of " + trace.spanCount + " spans; the OTLP/JSON file has all"));
    }
    host.setAttribute("data-rendered", String(rows.length));
  }

  data.traces.forEach(function (trace) {
    var host = document.querySelector('.waterfall[data-trace-id="' + trace.traceId + '"]');
    if (host) { render(trace, host); }
  });
  // Deep link: page.html#span-<span id> opens that span's details (failure messages can point
  // straight at the span an assertion rejected).
  var wanted = /^#span-([0-9a-f]{16})$/.exec(window.location.hash);
  if (wanted) {
    var target = document.querySelector('.wf-row[data-span-id="' + wanted[1] + '"]');
    if (target) { target.click(); target.scrollIntoView({ block: "center" }); }
  }
  document.documentElement.setAttribute("data-tracebed-rendered", "yes");
})();
