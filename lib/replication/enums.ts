/**
 * The ReplicationRegistry's enums, apart from the rest of lib/replication/ and from generated code, so that the
 * watcher, the status page in a browser and the guest agent's bundle can all use them without pulling in quote
 * verification, node:crypto or the TypeChain factories.
 */

/** `IReplicationRegistry.NodeStatus`, in its Solidity order. */
export const NODE_STATUSES = ["None", "Registered", "Member", "Evicted"] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

/** `IReplicationRegistry.EvictionCause`, in its Solidity order. */
export const EVICTION_CAUSES = ["Left", "NoLongerAllowed", "RemovedByOwner", "AttestationExpired"] as const;
export type EvictionCause = (typeof EVICTION_CAUSES)[number];

function enumName<const Names extends readonly string[]>(names: Names, value: bigint | number): Names[number] {
  const name = names[Number(value)];
  if (name === undefined) throw new Error(`unknown enum value ${value} (expected 0..${names.length - 1})`);
  return name;
}

export const nodeStatusOf = (value: bigint | number): NodeStatus => enumName(NODE_STATUSES, value);
export const evictionCauseOf = (value: bigint | number): EvictionCause => enumName(EVICTION_CAUSES, value);
