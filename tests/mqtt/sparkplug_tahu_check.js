// Decodes the payloads that sparkplug_tahu_writer wrote with Eclipse Tahu's
// JavaScript package (sparkplug-payload, npm) and checks every metric against
// manifest.json:
//   - Tahu's own decoder (decodePayload): name, alias, type, value,
//     timestamps, properties, as a Tahu-based host sees them;
//   - Tahu's protobufjs schema (Payload.decode): the protobuf field that
//     carries each value, and the fields that DATA messages leave out.
// Tahu's decoder reads UInt32 from long_value while the 3.0 datatype table
// (and fieldbridge) put it in int_value: Tahu's high-level value of our UInt32
// is then null (the unset long_value of the oneof); the check says so
// explicitly, and checks the int_value through Tahu's schema.
//
//   node sparkplug_tahu_check.js <node_modules dir> <payload dir>
"use strict";
const fs = require("fs");
const path = require("path");

const [modules, dir] = process.argv.slice(2);
const tahu = require(path.join(modules, "sparkplug-payload")).get("spBv1.0");
const proto = require(path.join(modules, "sparkplug-payload", "lib", "sparkplugPayloadProto.js"));
const Payload = proto.org.eclipse.tahu.protobuf.Payload;
const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));

let passed = 0;
let failed = 0;
function check(ok, what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    console.log("FAIL: " + what);
  }
}
const str = (v) => (v === undefined || v === null ? String(v) : v.toString());
const hex = (b) => Buffer.from(b).toString("hex");

// Tahu's high-level value against the manifest's text.
function sameValue(type, got, want) {
  switch (type) {
    case "Int8": case "Int16": case "Int32": case "UInt8": case "UInt16":
      return typeof got === "number" && got === Number(want);
    case "Int64": case "UInt64": case "DateTime":
      return str(got) === want;
    case "Float":
      return got === Math.fround(Number(want));
    case "Double":
      return got === Number(want);
    case "Boolean":
      return got === (want === "true");
    case "String": case "Text": case "UUID":
      return got === want;
    case "Bytes": case "File":
      return hex(got) === want;
    default:
      return false;
  }
}

for (const entry of manifest) {
  const bytes = fs.readFileSync(path.join(dir, entry.file));
  const high = tahu.decodePayload(bytes);
  const raw = Payload.decode(bytes);
  const where = entry.file;
  check(str(high.seq) === entry.seq, `${where}: seq ${str(high.seq)} != ${entry.seq}`);
  check(str(high.timestamp) === entry.timestamp, `${where}: timestamp ${str(high.timestamp)}`);
  check(high.metrics.length === entry.metrics.length, `${where}: ${high.metrics.length} metrics`);
  entry.metrics.forEach((want, i) => {
    const m = high.metrics[i];
    const r = raw.metrics[i];
    const what = `${where} metric ${want.name ?? "alias " + want.alias} (${want.type})`;
    if (!m || !r) {
      check(false, `${what}: missing`);
      return;
    }
    // The raw protobuf, through Tahu's schema.
    check(str(r.alias) === want.alias, `${what}: alias ${str(r.alias)}`);
    check(str(r.timestamp) === want.timestamp, `${what}: timestamp ${str(r.timestamp)}`);
    check(r.value === want.field, `${what}: value in ${r.value}, the 3.0 table says ${want.field}`);
    const rawValue = r[want.field];
    const rawSame = want.field === "bytesValue" ? hex(rawValue) === want.raw
      : want.field === "floatValue" ? rawValue === Math.fround(Number(want.raw))
      : want.field === "doubleValue" ? rawValue === Number(want.raw)
      : str(rawValue) === want.raw;
    check(rawSame, `${what}: ${want.field} ${str(rawValue)} != ${want.raw}`);
    check(Object.prototype.hasOwnProperty.call(r, "datatype") === want.datatype_on_wire,
          `${what}: datatype present: ${Object.prototype.hasOwnProperty.call(r, "datatype")}`);
    check(Object.prototype.hasOwnProperty.call(r, "name") === (want.name !== null), `${what}: name present`);
    check((r.isHistorical === true) === want.is_historical, `${what}: isHistorical ${r.isHistorical}`);
    if (!want.datatype_on_wire) return;  // Tahu's decoder needs the datatype to read a value
    // Tahu's decoder, as a Tahu-based host sees the metric.
    check(m.name === want.name, `${what}: name ${m.name}`);
    check(m.type === want.type || (entry.file === "arrays.bin" && m.type === undefined),
          `${what}: type ${m.type}`);
    if (entry.file === "arrays.bin") {
      // sparkplug-payload 1.0.3 knows no array types (its getValue returns
      // null past 21); the packed bytes are checked through the schema above.
      check(m.value === null, `${what}: Tahu now decodes arrays (${m.value}): check their values too`);
    } else if (want.type === "UInt32") {
      check(m.value === null && r.longValue === null,
            `${what}: Tahu's decoder gave ${str(m.value)}; expected null, from the absent long_value`);
    } else {
      check(sameValue(want.type, m.value, want.value), `${what}: Tahu decoded ${str(m.value)}, wrote ${want.value}`);
    }
    for (const [key, prop] of Object.entries(want.properties)) {
      const got = m.properties && m.properties[key];
      check(got !== undefined && got.type === prop.type && sameValue(prop.type, got.value, prop.value),
            `${what}: property ${key} ${JSON.stringify(got)}`);
    }
  });
}
console.log(`sparkplug-payload decoded fieldbridge's bytes: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
