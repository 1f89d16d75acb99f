// Protobuf test data with the libraries people use: protobufjs encodes the
// events of event.proto, kafkajs sends them to a Kafka broker (lodestar
// dev-kafka in the tests).
//
//   node client.mjs descriptor OUT.pb           event.proto's FileDescriptorSet as
//                                               protobufjs writes it (ext/descriptor)
//   node client.mjs produce BOOTSTRAP TOPIC N [FIRST] [--json] [--corrupt HEX,...]
//       N PageView events numbered FIRST.. (as protobuf, or with --json as
//       nd-json of the same values), then the given raw records (hex); prints
//       "sent K" when the broker has acknowledged them all.
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
  const baseMs = Date.now();
  const kafka = new Kafka({ clientId: "lodestar-protobuf-test", brokers: [bootstrap],
                            logLevel: logLevel.ERROR });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  let sent = 0;
  const batch = 1000;
  for (let s = first; s < first + n; s += batch) {
    const messages = [];
    for (let i = s; i < Math.min(first + n, s + batch); i++) {
      const e = event(i, baseMs);
      const err = PageView.verify(e);
      if (err) throw new Error(err);
      const value = json ? Buffer.from(asJson(e))
                         : Buffer.from(PageView.encode(PageView.fromObject(e)).finish());
      messages.push({ key: `k${i}`, value });
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
} else {
  console.error("usage: node client.mjs descriptor OUT | produce BOOTSTRAP TOPIC N [FIRST]");
  process.exit(2);
}
