/**
 * Writes a production keystore of hardhat-keystore (the encrypted `keystore.json` that `npx hardhat keystore set`
 * writes, whose password Hardhat prompts for) into a Hardhat config directory, with the plugin's own encryption
 * code: the format is the plugin's, not a copy of it.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

interface KeystoreEncryption {
  createMasterKey(args: { password: string }): { salt: Uint8Array; masterKey: Uint8Array };
  createEmptyEncryptedKeystore(args: { masterKey: Uint8Array; salt: Uint8Array }): object;
  addSecretToKeystore(args: { masterKey: Uint8Array; encryptedKeystore: object; key: string; value: string }): object;
}

const require = createRequire(import.meta.url);
const pluginRoot = path.dirname(require.resolve("@nomicfoundation/hardhat-keystore/package.json"));

/** @param configHome the XDG_CONFIG_HOME of the run; Hardhat keeps its keystore in `hardhat-nodejs/` inside it. */
export async function writeProductionKeystore(
  configHome: string,
  password: string,
  secrets: Record<string, string>,
): Promise<string> {
  const encryption = (await import(
    pathToFileURL(path.join(pluginRoot, "dist/src/internal/keystores/encryption.js")).href
  )) as KeystoreEncryption;
  const { masterKey, salt } = encryption.createMasterKey({ password });
  let keystore = encryption.createEmptyEncryptedKeystore({ masterKey, salt });
  for (const [key, value] of Object.entries(secrets)) {
    keystore = encryption.addSecretToKeystore({ masterKey, encryptedKeystore: keystore, key, value });
  }
  const file = path.join(configHome, "hardhat-nodejs", "keystore.json");
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(keystore, null, 2));
  return file;
}
