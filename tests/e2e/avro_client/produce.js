// produce.js — Avro test data with the libraries people use, for tests/e2e/test_avro.py
// (and bench/). avsc encodes; @kafkajs/confluent-schema-registry registers schemas in a
// registry and frames records (magic byte 0, 4-byte schema id); kafkajs sends them.
//
//   node produce.js registry <broker> <topic> <registryUrl> <subject> <schema.json> <events.jsonl> [user pass]
//        registers the schema under the subject, sends each event framed with its id;
//        prints {"id": <schema id>, "sent": n}
//   node produce.js inline <broker> <topic> <schema.json> <events.jsonl>
//        sends each event as plain Avro (no header), for inline-avro jobs
//   node produce.js hex <broker> <topic> <records.hex>
//        sends each line's bytes (hex) as one message: damaged records
//   node produce.js ocf <schema.json> <events.jsonl> <out.avro> [null|deflate]
//        writes an Avro object container file with avsc
// Events are JSON; a value {"$bytes": "<hex>"} becomes a Buffer (bytes, fixed, decimal).
'use strict';
const fs = require('fs');
const avro = require('avsc');
const { Kafka, logLevel } = require('kafkajs');
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry');

function events(file) {
  const revive = (k, v) =>
    v && typeof v === 'object' && typeof v.$bytes === 'string' ? Buffer.from(v.$bytes, 'hex') : v;
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim())
    .map((l) => JSON.parse(l, revive));
}

async function send(broker, topic, values) {
  const kafka = new Kafka({ clientId: 'lodestar-avro-test', brokers: [broker], logLevel: logLevel.ERROR });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  for (let i = 0; i < values.length; i += 500) {
    await producer.send({ topic, messages: values.slice(i, i + 500).map((value) => ({ value })) });
  }
  await producer.disconnect();
}

async function main() {
  const [mode, ...a] = process.argv.slice(2);
  if (mode === 'registry') {
    const [broker, topic, url, subject, schemaFile, evFile, user, pass] = a;
    const registry = new SchemaRegistry({ host: url, ...(user ? { auth: { username: user, password: pass } } : {}) });
    const schema = fs.readFileSync(schemaFile, 'utf8');
    const { id } = await registry.register({ type: SchemaType.AVRO, schema }, { subject });
    const values = [];
    for (const e of events(evFile)) values.push(await registry.encode(id, e));
    await send(broker, topic, values);
    console.log(JSON.stringify({ id, sent: values.length }));
  } else if (mode === 'inline') {
    const [broker, topic, schemaFile, evFile] = a;
    const type = avro.Type.forSchema(JSON.parse(fs.readFileSync(schemaFile, 'utf8')));
    const values = events(evFile).map((e) => type.toBuffer(e));
    await send(broker, topic, values);
    console.log(JSON.stringify({ sent: values.length }));
  } else if (mode === 'hex') {
    const [broker, topic, file] = a;
    const values = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim())
      .map((l) => Buffer.from(l.trim(), 'hex'));
    await send(broker, topic, values);
    console.log(JSON.stringify({ sent: values.length }));
  } else if (mode === 'ocf') {
    const [schemaFile, evFile, out, codec] = a;
    const schema = JSON.parse(fs.readFileSync(schemaFile, 'utf8'));
    const enc = avro.createFileEncoder(out, schema, { codec: codec || 'null', blockSize: 4096 });
    for (const e of events(evFile)) enc.write(e);
    await new Promise((resolve, reject) => { enc.on('finish', resolve); enc.on('error', reject); enc.end(); });
    // the file stream closes after the encoder finishes
    await new Promise((r) => setTimeout(r, 200));
    console.log(JSON.stringify({ written: out }));
  } else {
    throw new Error('usage: produce.js registry|inline|hex|ocf ...');
  }
}

main().catch((e) => { console.error(e && e.stack ? e.stack : String(e)); process.exit(1); });
