// s3rver.js — an S3-compatible object store for the tests: s3rver on a free
// loopback port over a directory, with the buckets named on the command line.
//   node s3rver.js DIR [BUCKET...]
// Prints one line "READY <port>" once it listens; runs until killed.
// s3rver checks signatures' form but not secrets (any key pair is accepted).
'use strict';
const S3rver = require('s3rver');

const [dir, ...buckets] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node s3rver.js DIR [BUCKET...]');
  process.exit(2);
}
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(process.env.S3RVER_PORT || 0),
  directory: dir,
  silent: true,
  configureBuckets: buckets.map((name) => ({ name })),
});
server.run().then(
  (addr) => console.log(`READY ${addr.port}`),
  (err) => {
    console.error(`s3rver: ${err.message}`);
    process.exit(1);
  },
);
