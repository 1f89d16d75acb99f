// Protobuf test data with the libraries people use: protobufjs encodes the
// events of event.proto, kafkajs sends them to a Kafka broker (lodestar
// dev-kafka in the tests).
//
//   node client.mjs descriptor OUT.pb           event.proto's FileDescriptorSet as
//                                               protobufjs writes it (ext/descriptor)
//   node client.mjs produce BOOTSTRAP TOPIC N [FIRST] [--json] [--corrupt HEX,...]
//                   [--partitions P]
//       N PageView events numbered FIRST.. (as protobuf, or with --json as
//       nd-json of the same values), then the given raw records (hex); prints
//       "sent K" when the broker has acknowledged them all. The events go out
//       1,000 a request, spread over the partitions by key; with --partitions
//       each request goes whole to one of partitions 0..P-1 in turn, one
//       record batch of 1,000 (see bench/protobuf/driver.py for why).
//
// Through a Confluent Schema Registry (registry/*.proto):
//   node client.mjs registry-register REGISTRY_URL
//       registers registry/lib/common.proto (subject "lib/common.proto") and
//       both versions of registry/event_v*.proto (subject "clicks-value",
//       referencing lib/common.proto) as .proto text with the registry's REST
//       API, and prints {"common"|"v1"|"v2": {"id", "serialized"}} where
//       serialized is the base64 FileDescriptorProto protobufjs builds for the
//       file (what a real registry's ?format=serialized answers).
//   node client.mjs registry-produce BOOTSTRAP TOPIC VERSION SCHEMA_ID N FIRST [--corrupt HEX,...]
//       N reg.Event.Click events of that schema version numbered FIRST..,
//       each in Confluent's Protobuf framing (see frame() below), then the
//       given raw records; prints "sent K".
//
// The framing is written here by hand: @kafkajs/confluent-schema-registry
// (3.x) writes magic byte + schema id + message for Protobuf too, without the
// message-index list Confluent's serializers write and their deserializers
// (and Lodestar) read, so its Protobuf records are not Confluent's format.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
import descriptor from "protobufjs/ext/descriptor/index.js";
import { Kafka, logLevel } from "kafkajs";

const here = dirname(fileURLToPath(import.meta.url));
const root = protobuf.loadSync(join(here, "event.proto"));
const PageView = root.lookupType("demo.PageView");

function event(i, baseMs) {
  const ms = baseMs + (i % 1000);
  return {
    ts: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 },
    page: `p${i % 13}`,
    n: i,
    user: { name: `u${i % 7}`, age: 20 + (i % 50) },
    tags: i % 3 === 0 ? [] : ["a", `t${i % 5}`],
    counters: { clicks: i % 4, views: i % 9 },
    ...(i % 2 === 0 ? { web: "chrome" } : { app: "ios" }),
    kind: i % 3,
    dur: i / 4,
    deltas: [-i, i],
  };
}

// A registry/*.proto file with its imports (protobufjs resolves
// google/protobuf/*.proto from its own copies), field names as written.
function registryRoot(file) {
  const r = new protobuf.Root();
  r.loadSync(join(here, "registry", file), { keepCase: true });
  r.resolveAll();
  return r;
}

// The base64 FileDescriptorProto of one registry/*.proto file, built by
// protobufjs: its toDescriptor() makes one file per package, so the file of
// the schema's package is taken, and given the name and imports the .proto
// text declares (protobufjs does not fill FileDescriptorProto.dependency).
function serialized(file, text, pkg) {
  const set = registryRoot(file).toDescriptor("proto3");
  const fd = set.file.find((f) => f.package === pkg);
  if (!fd) throw new Error(`no package ${pkg} in ${file}'s descriptor`);
  fd.name = file;
  fd.dependency = protobuf.parse(text, { keepCase: true }).imports || [];
  return Buffer.from(descriptor.FileDescriptorProto.encode(fd).finish()).toString("base64");
}

// Confluent's Protobuf framing: magic byte 0, the schema id (4 bytes,
// big-endian), the message-index list as zigzag varints — its length, then
// the indexes, the list [0] (the file's first message) written as the single
// byte 0 — then the message.
function frame(id, indexes, message) {
  const zz = (v) => {
    const out = [];
    let u = (v << 1) ^ (v >> 31);
    while (u > 0x7f) { out.push((u & 0x7f) | 0x80); u >>>= 7; }
    out.push(u);
    return out;
  };
  const list = indexes.length === 1 && indexes[0] === 0 ? [0]
             : [indexes.length, ...indexes].flatMap(zz);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(id, 1);
  return Buffer.concat([head, Buffer.from(list), Buffer.from(message)]);
}

function asJson(e) {
  const o = { ...e, ts: new Date(e.ts.seconds * 1000 + e.ts.nanos / 1e6).toISOString() };
  o.kind = ["KIND_UNKNOWN", "VIEW", "CLICK"][e.kind];
  return JSON.stringify(o);
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === "descriptor") {
  const set = root.toDescriptor("proto3");
  writeFileSync(args[0], descriptor.FileDescriptorSet.encode(set).finish());
} else if (cmd === "produce") {
  const [bootstrap, topic, nText, firstText] = args;
  const n = Number(nText), first = Number(firstText || 0);
  const json = args.includes("--json");
  const ci = args.indexOf("--corrupt");
  const corrupt = ci >= 0 ? args[ci + 1].split(",").filter(Boolean) : [];
  const pi = args.indexOf("--partitions");
  const partitions = pi >= 0 ? Number(args[pi + 1]) : 0;
  const baseMs = Date.now();
  const kafka = new Kafka({ clientId: "lodestar-protobuf-test", brokers: [bootstrap],
                            logLevel: logLevel.ERROR });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  let sent = 0;
  const batch = 1000;
  for (let s = first; s < first + n; s += batch) {
    const messages = [];
    const partition = partitions > 0 ? ((s - first) / batch) % partitions : undefined;
    for (let i = s; i < Math.min(first + n, s + batch); i++) {
      const e = event(i, baseMs);
      const err = PageView.verify(e);
      if (err) throw new Error(err);
      const value = json ? Buffer.from(asJson(e))
                         : Buffer.from(PageView.encode(PageView.fromObject(e)).finish());
      messages.push(partition === undefined ? { key: `k${i}`, value }
                                            : { key: `k${i}`, value, partition });
    }
    await producer.send({ topic, messages, acks: -1 });
    sent += messages.length;
  }
  if (corrupt.length) {
    await producer.send({ topic, acks: -1,
      messages: corrupt.map((h, i) => ({ key: `bad${i}`, value: Buffer.from(h, "hex") })) });
    sent += corrupt.length;
  }
  await producer.disconnect();
  console.log(`sent ${sent}`);
} else if (cmd === "registry-register") {
  const url = args[0].replace(/\/+$/, "");
  const ref = { name: "lib/common.proto", subject: "lib/common.proto", version: 1 };
  const out = {};
  for (const [key, file, subject, refs, pkg] of [
    ["common", "lib/common.proto", "lib/common.proto", [], "common"],
    ["v1", "event_v1.proto", "clicks-value", [ref], "reg"],
    ["v2", "event_v2.proto", "clicks-value", [ref], "reg"],
  ]) {
    const text = readFileSync(join(here, "registry", file), "utf8");
    const r = await fetch(`${url}/subjects/${encodeURIComponent(subject)}/versions`, {
      method: "POST",
      headers: { "Content-Type": "application/vnd.schemaregistry.v1+json" },
      body: JSON.stringify({ schemaType: "PROTOBUF", schema: text, references: refs }),
    });
    if (!r.ok) throw new Error(`register ${file}: HTTP ${r.status} ${await r.text()}`);
    const { id } = await r.json();
    out[key] = { id, serialized: serialized(file, text, pkg) };
  }
  console.log(JSON.stringify(out));
} else if (cmd === "registry-produce") {
  const [bootstrap, topic, version, idText, nText, firstText] = args;
  const id = Number(idText), n = Number(nText), first = Number(firstText);
  const ci = args.indexOf("--corrupt");
  const corrupt = ci >= 0 ? args[ci + 1].split(",").filter(Boolean) : [];
  const r = registryRoot(`event_${version}.proto`);
  const Click = r.lookupType("reg.Event.Click");
  const baseMs = Date.now();
  const kafka = new Kafka({ clientId: "lodestar-protobuf-test", brokers: [bootstrap],
                            logLevel: logLevel.ERROR });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const messages = [];
  for (let i = first; i < first + n; i++) {
    const ms = baseMs + (i % 1000);
    const e = { ts: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, n: i,
                page: `p${i % 5}`, geo: { country: i % 2 ? "FR" : "DE", lat: i / 10 } };
    if (version === "v2") Object.assign(e, { referrer: `r${i % 3}`, tags: ["x", `t${i % 4}`] });
    const err = Click.verify(e);
    if (err) throw new Error(err);
    const value = frame(id, [1, 0], Click.encode(Click.fromObject(e)).finish());
    messages.push({ key: `k${i}`, value });
  }
  for (const h of corrupt) messages.push({ key: "bad", value: Buffer.from(h, "hex") });
  for (let s = 0; s < messages.length; s += 1000)
    await producer.send({ topic, messages: messages.slice(s, s + 1000), acks: -1 });
  await producer.disconnect();
  console.log(`sent ${messages.length}`);
} else {
  console.error("usage: node client.mjs descriptor OUT | produce BOOTSTRAP TOPIC N [FIRST] | " +
                "registry-register URL | registry-produce BOOTSTRAP TOPIC VERSION ID N FIRST");
  process.exit(2);
}
