// bench/avro/produce.js — the same events twice, for bench_avro: each nd-json line of a file
// as it is into one topic, and encoded with avsc (plain Avro, the schema given) into another;
// kafkajs sends both into lodestar dev-kafka. Prints {"json": n, "avro": n, "jsonBytes",
// "avroBytes"}.
//   node produce.js <broker> <events.ndjson> <schema.json> <jsonTopic> <avroTopic>
'use strict';
const path = require('path');
const fs = require('fs');
const mods = path.join(__dirname, '..', '..', 'tests', 'e2e', 'avro_client', 'node_modules');
const avro = require(path.join(mods, 'avsc'));
const { Kafka, logLevel, CompressionTypes } = require(path.join(mods, 'kafkajs'));

async function main() {
  const [broker, file, schemaFile, jsonTopic, avroTopic] = process.argv.slice(2);
  const type = avro.Type.forSchema(JSON.parse(fs.readFileSync(schemaFile, 'utf8')));
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l);
  const kafka = new Kafka({ clientId: 'bench-avro', brokers: [broker], logLevel: logLevel.ERROR });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  let jb = 0, ab = 0;
  for (let i = 0; i < lines.length; i += 500) {
    const chunk = lines.slice(i, i + 500);
    const json = chunk.map((l) => { const v = Buffer.from(l); jb += v.length; return { value: v }; });
    const av = chunk.map((l) => { const v = type.toBuffer(JSON.parse(l)); ab += v.length; return { value: v }; });
    await producer.send({ topic: jsonTopic, compression: CompressionTypes.None, messages: json });
    await producer.send({ topic: avroTopic, compression: CompressionTypes.None, messages: av });
  }
  await producer.disconnect();
  console.log(JSON.stringify({ json: lines.length, avro: lines.length, jsonBytes: jb, avroBytes: ab }));
}
main().catch((e) => { console.error(e && e.stack ? e.stack : String(e)); process.exit(1); });
