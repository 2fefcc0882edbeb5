// Eclipse Tahu's JavaScript decoder (npm sparkplug-payload) reads the
// gateway's own NBIRTH, DBIRTH and DDATA, as captured by the host of
// sparkplug_system_test.cpp (TheGatewaysBirthsAndDataAsAHostReceivesThem).
// The births carry datatypes, so Tahu's decodePayload gives names, types,
// values and properties; the DDATA carries none (aliases only), so Tahu's
// protobufjs schema checks its fields.
//
//   node sparkplug_tahu_gateway_check.js <node_modules dir> <capture dir>
"use strict";
const fs = require("fs");
const path = require("path");

const [modules, dir] = process.argv.slice(2);
const tahu = require(path.join(path.resolve(modules), "sparkplug-payload")).get("spBv1.0");
const proto = require(path.join(path.resolve(modules), "sparkplug-payload", "lib", "sparkplugPayloadProto.js"));
const Payload = proto.org.eclipse.tahu.protobuf.Payload;
const read = (name) => fs.readFileSync(path.join(dir, name));

let passed = 0;
let failed = 0;
function check(ok, what) {
  if (ok) passed++;
  else {
    failed++;
    console.log("FAIL: " + what);
  }
}
const str = (v) => (v === undefined || v === null ? String(v) : v.toString());

const nbirth = tahu.decodePayload(read("NBIRTH.bin"));
check(str(nbirth.seq) === "0", `NBIRTH seq ${str(nbirth.seq)}`);
const bdseq = nbirth.metrics.find((m) => m.name === "bdSeq");
check(bdseq !== undefined && bdseq.type === "Int64", `NBIRTH bdSeq ${JSON.stringify(bdseq)}`);
const rebirth = nbirth.metrics.find((m) => m.name === "Node Control/Rebirth");
check(rebirth !== undefined && rebirth.type === "Boolean" && rebirth.value === false && str(rebirth.alias) === "0",
      `NBIRTH Rebirth ${JSON.stringify(rebirth)}`);

// The DBIRTH may go out before the device's first poll: then its metrics
// are is_null, which Tahu shows as value null.
const dbirth = tahu.decodePayload(read("DBIRTH.bin"));
check(str(dbirth.seq) === "1", `DBIRTH seq ${str(dbirth.seq)}`);
const byName = Object.fromEntries(dbirth.metrics.map((m) => [m.name, m]));
const seq = byName["seq"];
check(seq && seq.type === "UInt16" && str(seq.alias) === "1" && (seq.value === null || typeof seq.value === "number"),
      `DBIRTH seq ${JSON.stringify(seq)}`);
const voltage = byName["voltage"];
check(voltage && voltage.type === "Float" && (voltage.value === null || voltage.value === Math.fround(230.5)) &&
      str(voltage.alias) === "2",
      `DBIRTH voltage ${JSON.stringify(voltage)}`);
check(voltage && voltage.properties && voltage.properties.engUnit && voltage.properties.engUnit.value === "V" &&
      voltage.properties.engUnit.type === "String", `DBIRTH voltage engUnit ${JSON.stringify(voltage && voltage.properties)}`);
const setpoint = byName["setpoint"];
check(setpoint && setpoint.type === "Double" && (setpoint.value === null || Math.abs(setpoint.value - 21.5) < 1e-9) &&
      str(setpoint.alias) === "3",
      `DBIRTH setpoint ${JSON.stringify(setpoint)}`);
for (const m of dbirth.metrics) check(m.timestamp !== undefined, `DBIRTH ${m.name}: no timestamp`);

const ddata = Payload.decode(read("DDATA.bin"));
check(str(ddata.seq) === "2", `DDATA seq ${str(ddata.seq)}`);
check(ddata.metrics.length >= 1 && ddata.metrics.length <= 3, `DDATA ${ddata.metrics.length} metrics`);  // a point whose read failed is left out
for (const m of ddata.metrics) {
  const a = str(m.alias);
  check(!Object.prototype.hasOwnProperty.call(m, "name"), `DDATA alias ${a}: a name`);
  check(!Object.prototype.hasOwnProperty.call(m, "datatype"), `DDATA alias ${a}: a datatype`);
  check(Object.prototype.hasOwnProperty.call(m, "timestamp"), `DDATA alias ${a}: no timestamp`);
  const want = { "1": "intValue", "2": "floatValue", "3": "doubleValue" }[a];
  check(m.value === want, `DDATA alias ${a}: value in ${m.value}, want ${want}`);
}
console.log(`sparkplug-payload decoded the gateway's messages: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
