// Regenerates deployments/*.json from Ignition's journals (run after every `ignition deploy` to a real chain).
import { recordIgnitionDeployments } from "../lib/deployments.js";

const written = await recordIgnitionDeployments("ignition/deployments", "deployments");
console.log(written.length === 0 ? "No Ignition deployments found." : `Wrote ${written.join(", ")}`);
