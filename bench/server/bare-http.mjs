// The "bare node:http ceiling" of bench/server/server.ts: a plain node:http server that reads each POST
// body to its end and answers a fixed small JSON (the size of a 1-row infer response). No routing, no
// parsing, no model: the most requests per second any Node HTTP server can answer on this machine under the
// same load generator.   node bench/server/bare-http.mjs   → prints "listening on http://127.0.0.1:PORT"
import { createServer } from "node:http";

const answer = Buffer.from(
  JSON.stringify({
    model_name: "mlp",
    model_version: "1",
    outputs: [
      {
        name: "probabilities",
        datatype: "FP32",
        shape: [1, 10],
        data: [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
      },
    ],
  }),
);
const server = createServer((req, res) => {
  req.on("data", () => {}); // read and drop every chunk, as a real server reads its body
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json", "content-length": answer.length });
    res.end(answer);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  const a = server.address();
  process.stderr.write(`listening on http://127.0.0.1:${a.port}\n`);
});
process.on("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
});
