// s3rver.js — an S3-compatible object store for the tests: s3rver on a free
// loopback port over a directory, with the buckets named on the command line.
//   node --openssl-legacy-provider s3rver.js DIR [BUCKET...]
// Prints one line "READY <port>" once it listens; runs until killed.
// S3RVER_PORT picks the port (a restart on the same one); S3RVER_VERBOSE logs requests.
// s3rver knows one key pair, S3RVER / S3RVER; it rejects other access key ids but
// does not check signatures (tests/e2e/s3/sigv4_proxy.py does).
// The flag: s3rver's ListObjectsV2 continuation tokens are DES-encrypted, a cipher
// OpenSSL 3 keeps in its legacy provider; without it every listing past 1000 keys
// fails with InternalError.
'use strict';
const S3rver = require('s3rver');

if (!process.execArgv.includes('--openssl-legacy-provider') &&
    !(process.env.NODE_OPTIONS || '').includes('--openssl-legacy-provider')) {
  console.error('s3rver.js: run it as node --openssl-legacy-provider s3rver.js ... ' +
                '(s3rver encrypts continuation tokens with DES)');
  process.exit(2);
}

const [dir, ...buckets] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node s3rver.js DIR [BUCKET...]');
  process.exit(2);
}
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(process.env.S3RVER_PORT || 0),
  directory: dir,
  silent: !process.env.S3RVER_VERBOSE,
  configureBuckets: buckets.map((name) => ({ name })),
});
server.run().then(
  (addr) => console.log(`READY ${addr.port}`),
  (err) => {
    console.error(`s3rver: ${err.message}`);
    process.exit(1);
  },
);
