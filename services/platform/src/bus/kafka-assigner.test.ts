import { AssignerProtocol, PartitionAssigners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { assignKeepingBusy, busyStaysAssigner } from './kafka-assigner.ts';

const member = (memberId: string, busy?: unknown) => ({
  memberId,
  memberMetadata: AssignerProtocol.MemberMetadata.encode({
    version: 0,
    topics: ['ev'],
    userData: busy === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(busy)),
  }),
});

const six = [{ topic: 'ev', partitions: [0, 1, 2, 3, 4, 5] }];

describe('busyStaysAssigner', () => {
  it('is plain round robin when nothing is busy', () => {
    expect(assignKeepingBusy([member('b'), member('a')], six)).toEqual([
      { memberId: 'a', assignment: { ev: [0, 2, 4] } },
      { memberId: 'b', assignment: { ev: [1, 3, 5] } },
    ]);
  });

  it('leaves busy partitions with their member and evens out the rest', () => {
    // "a" still handles 1, 3 and 5 (the round robin would give them to "b"); "c" just joined.
    const result = assignKeepingBusy([member('a', { ev: [1, 3, 5] }), member('b'), member('c')], six);
    expect(result).toEqual([
      { memberId: 'a', assignment: { ev: [1, 3, 5] } },
      { memberId: 'b', assignment: { ev: [0, 4] } },
      { memberId: 'c', assignment: { ev: [2] } },
    ]);
    expect(result.flatMap((r) => r.assignment.ev ?? []).sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('gives a partition once, and ignores busy lists it cannot use', () => {
    const result = assignKeepingBusy(
      [
        member('a', { ev: [2, 99], gone: [0] }),
        member('b', { ev: [2] }),
        { memberId: 'c', memberMetadata: Buffer.from('not a member metadata') },
        member('d', ['not', 'an', 'object']),
      ],
      six,
    );
    const all = result.flatMap((r) => r.assignment.ev ?? []);
    expect(all.sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(result.find((r) => r.memberId === 'a')!.assignment.ev).toContain(2);
  });

  it('speaks round robin on the wire, so members of earlier versions agree on the protocol', async () => {
    const cluster = {
      findTopicPartitionMetadata: () => [0, 1, 2].map((partitionId) => ({ partitionId })),
    } as never;
    const ours = busyStaysAssigner(() => ({ ev: [2] }))({
      cluster,
      groupId: 'g',
      logger: undefined as never,
    });
    const theirs = PartitionAssigners.roundRobin({ cluster, groupId: 'g', logger: undefined as never });
    expect(ours.name).toBe(theirs.name);
    const joined = ours.protocol({ topics: ['ev'] });
    expect(joined.name).toBe(theirs.protocol({ topics: ['ev'] }).name);
    const assignment = await ours.assign({
      members: [
        { memberId: 'a', memberMetadata: theirs.protocol({ topics: ['ev'] }).metadata },
        { memberId: 'b', memberMetadata: joined.metadata },
      ],
      topics: ['ev'],
    });
    const decoded = Object.fromEntries(
      assignment.map((a) => [
        a.memberId,
        AssignerProtocol.MemberAssignment.decode(a.memberAssignment)?.assignment,
      ]),
    );
    expect(decoded).toEqual({ a: { ev: [0, 1] }, b: { ev: [2] } });
  });
});
