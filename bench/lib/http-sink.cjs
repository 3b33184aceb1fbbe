// The throughput bench's HTTP ceiling: a bare node:http server that counts a
// request body and drops it. curl into it costs what any Node HTTP service
// pays on this machine before doing anything with the bytes.
const http = require('node:http');

const server = http.createServer((request, response) => {
  let bytes = 0;
  request.on('data', (chunk) => (bytes += chunk.length));
  request.on('end', () => response.end(JSON.stringify({ bytes })));
});
server.listen(0, '127.0.0.1', () => {
  // The line bench/lib/service.mjs looks for, as Fastify's pino logger prints it.
  process.stdout.write(`${JSON.stringify({ msg: `Server listening at http://127.0.0.1:${server.address().port}` })}\n`);
});
