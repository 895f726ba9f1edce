import { AssignerProtocol, type Assignment, type GroupMember, type PartitionAssigner } from 'kafkajs';

/**
 * kafkajs's group protocol name for round robin. Kept on purpose: the group picks a protocol every member
 * offers, so members of earlier Thoth versions (plain round robin) and of this one agree during a rolling
 * upgrade. Members that send no busy list (earlier versions, other clients) are treated as idle.
 */
const PROTOCOL = 'RoundRobinAssigner';
const VERSION = 0;

/**
 * Round robin that never moves a busy partition. Each member tells the group, in the user data of its join
 * (public kafkajs assigner API), which of its partitions still have handlers running or commits under way;
 * the leader leaves those with it and spreads the rest so every member ends with as even a count as it can.
 *
 * Why: kafkajs has no "partitions revoked" callback, and rejoins as soon as its fetch loop learns of a
 * rebalance. The Kafka adapter drains its handlers before it rejoins whenever it learns of the rebalance
 * itself (inside eachBatch), but kafkajs's loop may learn first (an empty fetch's heartbeat) while handlers
 * still run in the background; then their partitions must not reach another member. They stay here, and
 * spread again at the group's next rebalance.
 */
export function busyStaysAssigner(busy: () => Assignment): PartitionAssigner {
  return ({ cluster }) => ({
    name: PROTOCOL,
    version: VERSION,
    protocol: ({ topics }) => ({
      name: PROTOCOL,
      metadata: AssignerProtocol.MemberMetadata.encode({
        version: VERSION,
        topics,
        userData: Buffer.from(JSON.stringify(busy())),
      }),
    }),
    assign: async ({ members, topics }) => {
      const partitions = topics.map((topic) => ({
        topic,
        partitions: cluster
          .findTopicPartitionMetadata(topic)
          .map((p) => p.partitionId)
          .sort((a, b) => a - b),
      }));
      return assignKeepingBusy(members, partitions).map(({ memberId, assignment }) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: VERSION,
          assignment,
          userData: Buffer.alloc(0),
        }),
      }));
    },
  });
}

/** The leader's decision (a pure function, unit-tested): busy partitions stay, the rest go to the least loaded. */
export function assignKeepingBusy(
  members: GroupMember[],
  topics: Array<{ topic: string; partitions: number[] }>,
): Array<{ memberId: string; assignment: Assignment }> {
  const ids = members.map((m) => m.memberId).sort();
  const busyOf = new Map(members.map((m) => [m.memberId, decodeBusy(m.memberMetadata)]));
  const out = new Map<string, Assignment>(ids.map((id) => [id, {}]));
  const load = new Map<string, number>(ids.map((id) => [id, 0]));
  const give = (id: string, topic: string, partition: number): void => {
    const assignment = out.get(id)!;
    assignment[topic] = [...(assignment[topic] ?? []), partition];
    load.set(id, load.get(id)! + 1);
  };
  const exists = new Map(topics.map((t) => [t.topic, new Set(t.partitions)]));
  const taken = new Set<string>();
  for (const id of ids)
    for (const [topic, partitions] of Object.entries(busyOf.get(id) ?? {}))
      for (const partition of partitions) {
        const key = `${topic}/${partition}`;
        if (!exists.get(topic)?.has(partition) || taken.has(key)) continue;
        taken.add(key);
        give(id, topic, partition);
      }
  for (const { topic, partitions } of topics)
    for (const partition of partitions) {
      if (taken.has(`${topic}/${partition}`) || ids.length === 0) continue;
      // The least loaded member, the first in id order among equals: plain round robin when nothing is busy.
      let pick = ids[0]!;
      for (const id of ids) if (load.get(id)! < load.get(pick)!) pick = id;
      give(pick, topic, partition);
    }
  for (const assignment of out.values())
    for (const list of Object.values(assignment)) list.sort((a, b) => a - b);
  return ids.map((memberId) => ({ memberId, assignment: out.get(memberId)! }));
}

/** A member's busy partitions from its join's user data; anything unreadable counts as none. */
function decodeBusy(metadata: Buffer): Assignment {
  try {
    const userData = AssignerProtocol.MemberMetadata.decode(metadata)?.userData;
    if (!userData || userData.length === 0) return {};
    const parsed: unknown = JSON.parse(userData.toString('utf8'));
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    const busy: Assignment = {};
    for (const [topic, partitions] of Object.entries(parsed))
      if (Array.isArray(partitions)) busy[topic] = partitions.filter((p): p is number => Number.isInteger(p));
    return busy;
  } catch {
    return {};
  }
}
