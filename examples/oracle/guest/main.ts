/**
 * The oracle's entry point in its container: starts the oracle against the CVM's guest API (/var/run/dstack.sock,
 * mounted by the compose file) and publishes signed results on PORT (default 8080), `GET /result?…`.
 */
import { Oracle } from "./oracle.js";

const port = Number(process.env["PORT"] ?? "8080");
if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
  console.error(`oracle: PORT ${process.env["PORT"]} is not a port number`);
  process.exit(1);
}
const oracle = await Oracle.start();
const server = await oracle.serve(port, "0.0.0.0");
console.log(`oracle: app ${oracle.appId}, source ${oracle.source.href}, signing as ${oracle.signer}, port ${port}`);
process.on("SIGTERM", () => server.close(() => process.exit(0)));
