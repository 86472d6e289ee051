// Writes the status page to web/dist (index.html, style.css, app.js) for any static host:
//   npm run build:web
// Open web/dist/index.html?rpc=<JSON-RPC URL>&app=<AppAuth address> from that host; the page reads the chain itself.
import { writeStatusPage } from "../web/build.js";

for (const file of await writeStatusPage()) console.log(`wrote ${file}`);
