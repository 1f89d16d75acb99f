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

// s3rver 3.7.1 answers a PUT (and an upload part) once its checksum stream has
// seen the last byte, before the file stream has written it: a HEAD or GET
// right after the 200 may find a short file (seen as a HEAD of size 0), and a
// multipart completion may concatenate a short part. Real S3 is read-after-write
// consistent, so the store waits here for the file to be closed before answering.
const crypto = require('crypto');
const fs = require('fs-extra');
const path = require('path');
const { Transform } = require('stream');
const FilesystemStore = require('s3rver/lib/stores/filesystem');

function writeAll(content, file) {
  return new Promise((resolve, reject) => {
    const out = fs.createWriteStream(file);
    const md5 = crypto.createHash('md5');
    let size = 0;
    out.on('error', reject);
    out.on('close', () => resolve([size, md5.digest('hex')]));
    if (Buffer.isBuffer(content)) {
      md5.update(content);
      size = content.length;
      out.end(content);
      return;
    }
    content
      .on('error', reject)
      .pipe(new Transform({
        transform(chunk, encoding, callback) {
          md5.update(chunk, encoding);
          size += chunk.length;
          callback(null, chunk);
        },
      }))
      .on('error', reject)
      .pipe(out);
  });
}

FilesystemStore.prototype.putObject = async function putObject(object) {
  const file = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.mkdirp(path.dirname(file));
  const [size, md5] = await writeAll(object.content, file);
  await this.putMetadata(object.bucket, object.key, object.metadata, md5);
  return { size, md5 };
};

FilesystemStore.prototype.putPart = async function putPart(bucket, uploadId, partNumber, content) {
  const file = path.join(this.getResourcePath(bucket, undefined, 'uploads'), uploadId,
                         partNumber.toString());
  await fs.mkdirp(path.dirname(file));
  const [size, md5] = await writeAll(content, file);
  await fs.writeFile(`${file}.md5`, md5);
  return { size, md5 };
};

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
