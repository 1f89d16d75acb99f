// kin.mjs — AWS's own Kinesis client (@aws-sdk/client-kinesis) driving a Kinesis endpoint
// for tests/e2e/test_kinesis.py and bench/bench_kinesis.sh. kinesalite speaks HTTP/1.1
// only, so the client gets NodeHttpHandler (its default handler may use HTTP/2).
//
//   node kin.mjs create ENDPOINT STREAM SHARDS       create the stream, wait until ACTIVE
//   node kin.mjs put ENDPOINT STREAM FIRST COUNT     COUNT JSON events n = FIRST.., 500 per PutRecords
//   node kin.mjs split ENDPOINT STREAM               split the first open shard at its middle hash key
//   node kin.mjs shards ENDPOINT STREAM              the shards as JSON
//   node kin.mjs consume ENDPOINT STREAM COUNT       read from TRIM_HORIZON (parents before
//                                                    children) until COUNT records; prints ms taken
import {
  KinesisClient, CreateStreamCommand, DescribeStreamSummaryCommand, PutRecordsCommand,
  ListShardsCommand, SplitShardCommand, GetShardIteratorCommand, GetRecordsCommand,
} from "@aws-sdk/client-kinesis";
import { NodeHttpHandler } from "@smithy/node-http-handler";

const [cmd, endpoint, stream, a1, a2] = process.argv.slice(2);
const client = new KinesisClient({
  endpoint, region: "us-east-1",
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
  requestHandler: new NodeHttpHandler(),
  maxAttempts: 10,
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitActive() {
  for (let i = 0; i < 200; i++) {
    const d = await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    if (d.StreamDescriptionSummary.StreamStatus === "ACTIVE") return;
    await sleep(50);
  }
  throw new Error("stream not ACTIVE");
}

async function listShards() {
  const out = [];
  let token;
  do {
    const r = await client.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: stream }));
    out.push(...r.Shards);
    token = r.NextToken;
  } while (token);
  return out;
}

if (cmd === "create") {
  await client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: Number(a1) }));
  await waitActive();
} else if (cmd === "put") {
  const first = Number(a1), count = Number(a2);
  const now = Date.now();
  for (let i = first; i < first + count; i += 500) {
    let entries = [];
    for (let j = i; j < Math.min(i + 500, first + count); j++) {
      const ev = { ts: new Date(now + (j % 1000)).toISOString(), page: `p${j % 13}`, n: j };
      entries.push({ Data: Buffer.from(JSON.stringify(ev)), PartitionKey: `k${j}` });
    }
    // PutRecords may refuse some entries (throttling): send those again until none is left.
    for (let tries = 0; entries.length; tries++) {
      if (tries > 50) throw new Error("PutRecords kept failing");
      const r = await client.send(new PutRecordsCommand({ StreamName: stream, Records: entries }));
      entries = entries.filter((_, k) => r.Records[k].ErrorCode);
      if (entries.length) await sleep(50);
    }
  }
} else if (cmd === "split") {
  const open = (await listShards()).filter((s) => !s.SequenceNumberRange.EndingSequenceNumber);
  const s = open[0];
  const lo = BigInt(s.HashKeyRange.StartingHashKey), hi = BigInt(s.HashKeyRange.EndingHashKey);
  await client.send(new SplitShardCommand({
    StreamName: stream, ShardToSplit: s.ShardId, NewStartingHashKey: ((lo + hi) / 2n).toString(),
  }));
  await waitActive();
  console.log(s.ShardId);
} else if (cmd === "shards") {
  console.log(JSON.stringify(await listShards()));
} else if (cmd === "consume") {
  const want = Number(a1);
  const t0 = Date.now();
  const shards = await listShards();
  const done = new Set();
  let got = 0;
  // Parents before children, as a reader that keeps each key's order must.
  const pending = [...shards];
  while (got < want && pending.length) {
    const ready = pending.filter((s) => (!s.ParentShardId || done.has(s.ParentShardId) ||
      !shards.find((p) => p.ShardId === s.ParentShardId)) &&
      (!s.AdjacentParentShardId || done.has(s.AdjacentParentShardId)));
    await Promise.all(ready.map(async (s) => {
      pending.splice(pending.indexOf(s), 1);
      let it = (await client.send(new GetShardIteratorCommand({
        StreamName: stream, ShardId: s.ShardId, ShardIteratorType: "TRIM_HORIZON" }))).ShardIterator;
      while (it && got < want) {
        const r = await client.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10000 }));
        got += r.Records.length;
        it = r.NextShardIterator;
        if (!r.Records.length) {
          if (r.MillisBehindLatest === 0 && !s.SequenceNumberRange.EndingSequenceNumber) break;
        }
      }
      done.add(s.ShardId);
    }));
  }
  console.log(JSON.stringify({ records: got, ms: Date.now() - t0 }));
} else {
  console.error("usage: see the comment at the top of kin.mjs");
  process.exit(2);
}
