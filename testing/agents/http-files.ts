// A plain HTTP server for applications run through `braid tunnel` in the lab (curl): GET /file
// sends FILE; PUT or POST to any other path hashes the body and answers {bytes, sha256} as
// JSON. Prints {"event":"listening","port":N} on stdout; exits when its stdin closes.
// Usage: http-files.ts HOST FILE
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';

const [host, file] = process.argv.slice(2);
if (!host || !file) {
  console.error('usage: http-files.ts HOST FILE');
  process.exit(2);
}
const size = statSync(file).size;

const server = createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/file') {
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    createReadStream(file).pipe(response);
    return;
  }
  if (request.method === 'PUT' || request.method === 'POST') {
    const hash = createHash('sha256');
    let bytes = 0;
    request.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ bytes, sha256: hash.digest('hex') }));
    });
    return;
  }
  response.writeHead(404).end();
});
server.listen(0, host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ event: 'listening', port })}\n`);
});
process.stdin.resume();
process.stdin.on('end', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
