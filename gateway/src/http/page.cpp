// GET /: the status page. One document with its style and script inline and
// nothing loaded from elsewhere (the Content-Security-Policy of routes.cpp
// forbids it): it works on a laptop that reaches the gateway and nothing
// else. The script fetches /status.json every 2 s and builds the tables
// with textContent only, so no value from a device can become markup.
#include "http/routes.hpp"

namespace fieldbridge::gateway::http {

namespace {

constexpr std::string_view page = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fieldbridge</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em 2em; color: #222; background: #fafafa; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
h2 { font-size: 1.15em; margin: 1.2em 0 .3em; }
h3 { font-size: 1em; margin: .8em 0 .3em; }
.sub { color: #666; }
.banner { padding: .4em .8em; margin: .6em 0; border-radius: 4px; background: #fdd; color: #700; }
.banner:empty { display: none; }
.cards { display: flex; flex-wrap: wrap; gap: 1em; margin: .8em 0; }
.card { background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: .5em .9em; min-width: 14em; }
.card dl { display: grid; grid-template-columns: auto auto; gap: 0 1em; margin: .3em 0 0; }
.card dt { color: #666; } .card dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; background: #fff; margin-bottom: .5em; }
th, td { border: 1px solid #ddd; padding: .2em .6em; text-align: left; }
th { background: #f0f0f0; font-weight: 600; }
td.num, td.value, td.age { text-align: right; font-variant-numeric: tabular-nums; }
.good, .online, .yes { color: #0a6b0a; font-weight: 600; }
.bad, .offline, .no { color: #b00; font-weight: 600; }
.unknown { color: #888; }
</style>
</head>
<body>
<h1 id="title">fieldbridge</h1>
<div class="sub" id="subtitle">loading /status.json …</div>
<div class="banner" id="banner"></div>
<div class="cards" id="cards"></div>
<div id="buses"></div>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const period = 2000;
let lastGood = 0;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}
function age(seconds) {
  if (seconds == null) return "—";
  if (seconds < 60) return seconds.toFixed(1) + " s";
  if (seconds < 3600) return (seconds / 60).toFixed(1) + " min";
  if (seconds < 86400) return (seconds / 3600).toFixed(1) + " h";
  return (seconds / 86400).toFixed(1) + " d";
}
function bytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1048576).toFixed(1) + " MiB";
}
function yesno(b, yes, no) { return el("span", {class: b ? "yes" : "no"}, b ? yes : no); }
function card(title, rows) {
  const dl = el("dl");
  for (const [k, v] of rows) dl.append(el("dt", {}, k), el("dd", {}, v));
  return el("div", {class: "card"}, el("strong", {}, title), dl);
}
function value(p) {
  if (p.value === null || p.value === undefined) return "—";
  return (typeof p.value === "object" ? JSON.stringify(p.value) : String(p.value)) + (p.unit ? " " + p.unit : "");
}

function render(s) {
  document.title = "fieldbridge " + s.gateway;
  document.getElementById("title").textContent = "fieldbridge " + s.gateway;
  document.getElementById("subtitle").textContent =
      "version " + s.version + " · topics under " + s.prefix + " · as of " + s.ts;
  const m = s.mqtt, st = s.store;
  const cards = document.getElementById("cards");
  cards.replaceChildren(
    card("Readings", [["polled", s.polled], ["published", s.published], ["queued", s.queued],
                      ["dropped", s.dropped], ["errors", s.errors], ["refused", s.refused]]),
    card("MQTT", [["connected", yesno(m.connected, "yes", "no")], ["broker", m.broker],
                  ["reconnects", m.reconnects], ["in flight", m.in_flight], ["paused", m.paused || "no"]]),
    card("Store", [["depth", st.depth], ["size", bytes(st.bytes)], ["oldest", age(st.oldest_age_seconds)],
                   ["disk", st.disk_failing ? el("span", {class: "no"}, "failing") : el("span", {class: "yes"}, "ok")]]));
  if (s.reload)
    cards.append(card("Last reload", [["at", s.reload.ts], ["result", s.reload.ok ? "applied" : s.reload.error]]));
  const buses = document.getElementById("buses");
  buses.replaceChildren();
  for (const bus of s.buses) {
    buses.append(el("h2", {}, "bus " + bus.name + " ", el("span", {class: "sub"}, bus.link)));
    for (const d of bus.devices) {
      const state = d.online ? "online" : "offline";
      buses.append(el("h3", {"data-device": d.name}, d.name + " ", el("span", {class: state}, state), " ",
        el("span", {class: "sub"}, "polls " + d.polls + " · timeouts " + d.timeouts + " · exceptions " +
           d.exceptions + " · errors " + d.errors + " · round trip " + d.round_trip_ms + " ms")));
      const table = el("table", {}, el("tr", {}, el("th", {}, "point"), el("th", {}, "value"),
                       el("th", {}, "quality"), el("th", {}, "age"), el("th", {}, "error")));
      for (const p of d.points) {
        const q = p.quality || "unknown";
        table.append(el("tr", {"data-point": d.name + "/" + p.name},
          el("td", {}, p.name), el("td", {class: "value"}, value(p)), el("td", {class: q}, p.quality || "none yet"),
          el("td", {class: "age"}, age(p.age_seconds)), el("td", {}, p.error)));
      }
      buses.append(table);
    }
  }
}

async function refresh() {
  const banner = document.getElementById("banner");
  try {
    const r = await fetch("status.json", {cache: "no-store", headers: token ? {Authorization: "Bearer " + token} : {}});
    if (!r.ok) throw new Error("/status.json answered " + r.status + " " + (await r.text()).trim());
    render(await r.json());
    lastGood = Date.now();
    banner.textContent = "";
  } catch (e) {
    banner.textContent = e.message + (lastGood ? " · last update " + age((Date.now() - lastGood) / 1000) + " ago" : "");
  }
  setTimeout(refresh, period);
}
refresh();
</script>
</body>
</html>
)html";

}  // namespace

std::string_view status_page() { return page; }

}  // namespace fieldbridge::gateway::http
