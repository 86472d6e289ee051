/**
 * Who this CVM is, from dstack's guest API through `@phala/dstack-sdk` (`Info`). The reconciler does not need it to
 * work; it is logged at start and shown in `/status` so an operator can tell which app and measured compose hash the
 * agent runs in. The replicator will use the same client for `GetKey` and `GetQuote`.
 */
import { DstackClient } from "@phala/dstack-sdk";

export interface DstackIdentity {
  appId: string;
  instanceId: string;
  appName: string;
  /** The compose hash dstack measured at boot: the agent's own app-compose.json, not the app it loads. */
  composeHash: string;
  deviceId: string;
  osImageHash: string | undefined;
}

/**
 * Reads `Info` from the endpoint (a unix socket path or the http(s) URL of a simulator); throws when the guest API
 * cannot be reached or answers something else.
 */
export async function readDstackIdentity(endpoint: string): Promise<DstackIdentity> {
  const info = await new DstackClient(endpoint).info();
  if (typeof info.app_id !== "string" || typeof info.compose_hash !== "string") {
    throw new Error("the dstack guest API answered Info without app_id or compose_hash");
  }
  return {
    appId: info.app_id,
    instanceId: info.instance_id,
    appName: info.app_name,
    composeHash: info.compose_hash,
    deviceId: info.device_id,
    osImageHash: info.os_image_hash,
  };
}
